
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_postmark_route.h"


#define NGX_HTTP_POSTMARK_SEGMENTS   6
#define NGX_HTTP_POSTMARK_PARAMS     20      /* in any table, at most */
#define NGX_HTTP_POSTMARK_VALUE_MAX  512     /* bytes, decoded */
#define NGX_HTTP_POSTMARK_ESCAPED    (3 * NGX_HTTP_POSTMARK_VALUE_MAX + 1)
#define NGX_HTTP_POSTMARK_NAME_MAX   64
#define NGX_HTTP_POSTMARK_WINDOW     10000     /* count + offset, at most */


/* what a query value may be */

typedef enum {
    NGX_HTTP_POSTMARK_Q_COUNT = 1,       /* 1 to 500 */
    NGX_HTTP_POSTMARK_Q_OFFSET,          /* 0 to 10000 */
    NGX_HTTP_POSTMARK_Q_TOFFSET,         /* 0 to 999999, templates' */
    NGX_HTTP_POSTMARK_Q_DATE,            /* a date, or a date and time */
    NGX_HTTP_POSTMARK_Q_TEXT,
    NGX_HTTP_POSTMARK_Q_BOOL,
    NGX_HTTP_POSTMARK_Q_ENUM,
    NGX_HTTP_POSTMARK_Q_STREAM,
    NGX_HTTP_POSTMARK_Q_UUID,
    NGX_HTTP_POSTMARK_Q_ALIAS,
    NGX_HTTP_POSTMARK_Q_DROP             /* an SDK adds it, harmless */
} ngx_http_postmark_kind_e;


/* what the "*" of a path is */

typedef enum {
    NGX_HTTP_POSTMARK_I_NONE = 0,
    NGX_HTTP_POSTMARK_I_TEMPLATE,        /* an id or an alias */
    NGX_HTTP_POSTMARK_I_MESSAGE,         /* a UUID */
    NGX_HTTP_POSTMARK_I_BOUNCE,          /* a 64-bit number */
    NGX_HTTP_POSTMARK_I_STREAM
} ngx_http_postmark_item_e;


/* which setting of the client an endpoint needs */

typedef enum {
    NGX_HTTP_POSTMARK_S_TEMPLATES = 1,
    NGX_HTTP_POSTMARK_S_TEMPLATES_WRITE,
    NGX_HTTP_POSTMARK_S_ACTIVITY,
    NGX_HTTP_POSTMARK_S_SUPPRESSIONS
} ngx_http_postmark_needs_e;


#define NGX_HTTP_POSTMARK_PAGED      0x01   /* count and offset required */
#define NGX_HTTP_POSTMARK_BODY       0x02
#define NGX_HTTP_POSTMARK_METADATA   0x04   /* one metadata_<key> filter */
#define NGX_HTTP_POSTMARK_BY_ID      0x08   /* messageID: no paging */


typedef struct {
    const char                        *name;     /* as Postmark spells it */
    ngx_http_postmark_kind_e           kind;
    const char *const                 *values;   /* of an enum */
} ngx_http_postmark_param_t;


typedef struct {
    const char                        *path;     /* "*": the item */
    int                                method;
    ngx_http_postmark_needs_e          needs;
    const char                        *op;
    ngx_http_postmark_item_e           item;
    const ngx_http_postmark_param_t   *params;   /* NULL-terminated */
    int                                flags;
    int                                code;     /* Postmark's, bad query */
} ngx_http_postmark_endpoint_t;


/* what never passes, and why: "*" one segment, "**" any rest */

typedef struct {
    const char                        *path;
    int                                status;
    int                                code;
    const char                        *message;
} ngx_http_postmark_refusal_t;


typedef struct {
    const char  *data;
    size_t       len;
} ngx_http_postmark_span_t;


static int ngx_http_postmark_route_path(const char *path, size_t len,
    ngx_http_postmark_span_t *seg, size_t *nseg,
    ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_route_refused(ngx_http_postmark_span_t *seg,
    size_t nseg, ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_pattern(const char *pattern,
    ngx_http_postmark_span_t *seg, size_t nseg, ngx_http_postmark_item_e item,
    ngx_http_postmark_span_t *found);
static const ngx_http_postmark_endpoint_t *ngx_http_postmark_route_match(
    int method, ngx_http_postmark_span_t *seg, size_t nseg,
    ngx_http_postmark_span_t *item, ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_route_scope(const ngx_http_postmark_endpoint_t *e,
    const ngx_http_postmark_scope_t *scope, ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_route_target(const ngx_http_postmark_endpoint_t *e,
    ngx_http_postmark_span_t *item, ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_route_query(const ngx_http_postmark_endpoint_t *e,
    const char *query, size_t len, ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_query_name(const char *raw, size_t len,
    char *name);
static int ngx_http_postmark_query_value(const ngx_http_postmark_param_t *p,
    const char *raw, size_t len, char *out, long *number,
    ngx_http_postmark_route_t *rt, int code);
static int ngx_http_postmark_unescape(const char *raw, size_t len, char *out,
    size_t *out_len);
static int ngx_http_postmark_is_item(ngx_http_postmark_item_e item,
    const char *s, size_t len);
static int ngx_http_postmark_is_id(const char *s, size_t len);
static int ngx_http_postmark_is_name(const char *s, size_t len, size_t max,
    const char *punct);

#define ngx_http_postmark_is_alias(s, len)                                  \
    ngx_http_postmark_is_name(s, len, NGX_HTTP_POSTMARK_ALIAS_MAX, ".-_")
#define ngx_http_postmark_is_stream(s, len)                                 \
    ngx_http_postmark_is_name(s, len, 30, "-_")

static int ngx_http_postmark_is_uuid(const char *s, size_t len);
static int ngx_http_postmark_date(const char *s, size_t len, char *out);
static int ngx_http_postmark_number(const char *s, size_t len, size_t max,
    long *value);
static int ngx_http_postmark_append(ngx_http_postmark_route_t *rt,
    size_t *n, const char *fmt, ...);
static void ngx_http_postmark_refuse(ngx_http_postmark_route_t *rt,
    int status, int code, const char *fmt, ...);


/*
 * A bad query value is answered as Postmark would: 422 with the code of
 * its API's query errors; the Templates API's get the proxy's own.
 */

#define ngx_http_postmark_bad(code)                                         \
    ((code) == NGX_HTTP_POSTMARK_E_QUERY ? 400 : 422)


/* the values Postmark takes, in its spelling */

static const char *const  ngx_http_postmark_template_types[] = {
    "All", "Standard", "Layout", NULL
};

static const char *const  ngx_http_postmark_outbound_status[] = {
    "queued", "sent", "processed", NULL
};

static const char *const  ngx_http_postmark_inbound_status[] = {
    "blocked", "processed", "queued", "failed", "scheduled", NULL
};

static const char *const  ngx_http_postmark_bounce_types[] = {
    "HardBounce", "Transient", "Unsubscribe", "Subscribe", "AutoResponder",
    "AddressChange", "DnsError", "SpamNotification", "OpenRelayTest",
    "Unknown", "SoftBounce", "VirusNotification", "ChallengeVerification",
    "BadEmailAddress", "SpamComplaint", "ManuallyDeactivated",
    "Unconfirmed", "Blocked", "SMTPApiError", "InboundError",
    "DMARCPolicy", "TemplateRenderingFailed", NULL
};

static const char *const  ngx_http_postmark_stream_types[] = {
    "All", "Inbound", "Transactional", "Broadcasts", NULL
};

static const char *const  ngx_http_postmark_reasons[] = {
    "HardBounce", "SpamComplaint", "ManualSuppression", NULL
};

static const char *const  ngx_http_postmark_origins[] = {
    "Recipient", "Customer", "Admin", NULL
};


#define ngx_http_postmark_p(name, kind)    { name, NGX_HTTP_POSTMARK_Q_##kind, \
                                             NULL }
#define ngx_http_postmark_e(name, values)  { name, NGX_HTTP_POSTMARK_Q_ENUM,   \
                                             values }

static const ngx_http_postmark_param_t  ngx_http_postmark_no_params[] = {
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_templates_list[] = {
    ngx_http_postmark_p("Count", COUNT),
    ngx_http_postmark_p("Offset", TOFFSET),
    ngx_http_postmark_e("TemplateType", ngx_http_postmark_template_types),
    ngx_http_postmark_p("LayoutTemplate", ALIAS),
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_outbound[] = {
    ngx_http_postmark_p("count", COUNT),
    ngx_http_postmark_p("offset", OFFSET),
    ngx_http_postmark_p("recipient", TEXT),
    ngx_http_postmark_p("fromemail", TEXT),
    ngx_http_postmark_p("tag", TEXT),
    ngx_http_postmark_e("status", ngx_http_postmark_outbound_status),
    ngx_http_postmark_p("fromdate", DATE),
    ngx_http_postmark_p("todate", DATE),
    ngx_http_postmark_p("subject", TEXT),
    ngx_http_postmark_p("messagestream", STREAM),
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_metadata =
    ngx_http_postmark_p("metadata_<key>", TEXT);

static const ngx_http_postmark_param_t  ngx_http_postmark_tracking[] = {
    ngx_http_postmark_p("count", COUNT),
    ngx_http_postmark_p("offset", OFFSET),
    ngx_http_postmark_p("recipient", TEXT),
    ngx_http_postmark_p("tag", TEXT),
    ngx_http_postmark_p("client_name", TEXT),
    ngx_http_postmark_p("client_company", TEXT),
    ngx_http_postmark_p("client_family", TEXT),
    ngx_http_postmark_p("os_name", TEXT),
    ngx_http_postmark_p("os_family", TEXT),
    ngx_http_postmark_p("os_company", TEXT),
    ngx_http_postmark_p("platform", TEXT),
    ngx_http_postmark_p("country", TEXT),
    ngx_http_postmark_p("region", TEXT),
    ngx_http_postmark_p("city", TEXT),
    ngx_http_postmark_p("messagestream", STREAM),
    ngx_http_postmark_p("fromdate", DATE),      /* postmark-python's */
    ngx_http_postmark_p("todate", DATE),
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_paging[] = {
    ngx_http_postmark_p("count", COUNT),
    ngx_http_postmark_p("offset", OFFSET),
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_inbound[] = {
    ngx_http_postmark_p("count", COUNT),
    ngx_http_postmark_p("offset", OFFSET),
    ngx_http_postmark_p("recipient", TEXT),
    ngx_http_postmark_p("fromemail", TEXT),
    ngx_http_postmark_p("subject", TEXT),
    ngx_http_postmark_p("mailboxhash", TEXT),
    ngx_http_postmark_p("tag", TEXT),
    ngx_http_postmark_e("status", ngx_http_postmark_inbound_status),
    ngx_http_postmark_p("fromdate", DATE),
    ngx_http_postmark_p("todate", DATE),
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_bounces[] = {
    ngx_http_postmark_p("count", COUNT),
    ngx_http_postmark_p("offset", OFFSET),
    ngx_http_postmark_e("type", ngx_http_postmark_bounce_types),
    ngx_http_postmark_p("inactive", BOOL),
    ngx_http_postmark_p("emailFilter", TEXT),
    ngx_http_postmark_p("tag", TEXT),
    ngx_http_postmark_p("messageID", UUID),
    ngx_http_postmark_p("fromdate", DATE),
    ngx_http_postmark_p("todate", DATE),
    ngx_http_postmark_p("messagestream", STREAM),
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_stats[] = {
    ngx_http_postmark_p("tag", TEXT),
    ngx_http_postmark_p("fromdate", DATE),
    ngx_http_postmark_p("todate", DATE),
    ngx_http_postmark_p("messagestream", STREAM),
    ngx_http_postmark_p("type", DROP),          /* the Ruby gem */
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_streams[] = {
    ngx_http_postmark_e("MessageStreamType", ngx_http_postmark_stream_types),
    ngx_http_postmark_p("IncludeArchivedStreams", BOOL),
    ngx_http_postmark_p("count", DROP),         /* the Ruby gem */
    ngx_http_postmark_p("offset", DROP),
    { NULL, 0, NULL }
};

static const ngx_http_postmark_param_t  ngx_http_postmark_suppressions[] = {
    ngx_http_postmark_e("SuppressionReason", ngx_http_postmark_reasons),
    ngx_http_postmark_e("Origin", ngx_http_postmark_origins),
    ngx_http_postmark_p("todate", DATE),
    ngx_http_postmark_p("fromdate", DATE),
    ngx_http_postmark_p("EmailAddress", TEXT),
    ngx_http_postmark_p("count", COUNT),        /* postmark.js, the gem */
    ngx_http_postmark_p("offset", OFFSET),
    { NULL, 0, NULL }
};


#define G  NGX_HTTP_POSTMARK_M_GET
#define P  NGX_HTTP_POSTMARK_M_POST
#define U  NGX_HTTP_POSTMARK_M_PUT
#define D  NGX_HTTP_POSTMARK_M_DELETE

#define T  NGX_HTTP_POSTMARK_S_TEMPLATES
#define TW NGX_HTTP_POSTMARK_S_TEMPLATES_WRITE
#define A  NGX_HTTP_POSTMARK_S_ACTIVITY
#define S  NGX_HTTP_POSTMARK_S_SUPPRESSIONS

#define TPL  NGX_HTTP_POSTMARK_I_TEMPLATE
#define MSG  NGX_HTTP_POSTMARK_I_MESSAGE
#define BNC  NGX_HTTP_POSTMARK_I_BOUNCE
#define STR  NGX_HTTP_POSTMARK_I_STREAM

#define PAGED  NGX_HTTP_POSTMARK_PAGED
#define BODY   NGX_HTTP_POSTMARK_BODY

#define NONE   ngx_http_postmark_no_params


/*
 * Every call that passes.  Paths match without regard to case, as
 * Postmark's do (postmark.js asks for "/deliveryStats"), and are sent in
 * the spelling below.  Literal paths go before those with an item, which
 * they would otherwise match ("templates/validate").
 */

static const ngx_http_postmark_endpoint_t  ngx_http_postmark_endpoints[] = {

    /* the Templates API */

    { "templates", G, T, "templates.list", 0,
      ngx_http_postmark_templates_list, 0, 0 },
    { "templates", P, TW, "templates.create", 0, NONE, BODY, 0 },
    { "templates/validate", P, T, "templates.validate", 0, NONE, BODY, 0 },
    { "templates/*", G, T, "templates.get", TPL, NONE, 0, 0 },
    { "templates/*", U, TW, "templates.edit", TPL, NONE, BODY, 0 },
    { "templates/*", D, TW, "templates.delete", TPL, NONE, 0, 0 },

    /* messages */

    { "messages/outbound", G, A, "messages.outbound", 0,
      ngx_http_postmark_outbound, PAGED|NGX_HTTP_POSTMARK_METADATA, 700 },
    { "messages/outbound/opens", G, A, "messages.opens", 0,
      ngx_http_postmark_tracking, PAGED, 700 },
    { "messages/outbound/clicks", G, A, "messages.clicks", 0,
      ngx_http_postmark_tracking, PAGED, 700 },
    { "messages/inbound", G, A, "messages.inbound", 0,
      ngx_http_postmark_inbound, PAGED, 700 },
    { "messages/outbound/*/details", G, A, "messages.outbound.details", MSG,
      NONE, 0, 700 },
    { "messages/outbound/*/dump", G, A, "messages.outbound.dump", MSG, NONE,
      0, 700 },
    { "messages/outbound/opens/*", G, A, "messages.opens.message", MSG,
      ngx_http_postmark_paging, PAGED, 700 },
    { "messages/outbound/clicks/*", G, A, "messages.clicks.message", MSG,
      ngx_http_postmark_paging, PAGED, 700 },
    { "messages/inbound/*/details", G, A, "messages.inbound.details", MSG,
      NONE, 0, 700 },

    /* bounces */

    { "deliverystats", G, A, "bounces.stats", 0, NONE, 0, 1000 },
    { "bounces", G, A, "bounces.list", 0, ngx_http_postmark_bounces,
      PAGED|NGX_HTTP_POSTMARK_BY_ID, 1000 },
    { "bounces/*", G, A, "bounces.get", BNC, NONE, 0, 1000 },
    { "bounces/*/dump", G, A, "bounces.dump", BNC, NONE, 0, 1000 },

    /* statistics */

    { "stats/outbound", G, A, "stats.overview", 0, ngx_http_postmark_stats,
      0, 900 },
    { "stats/outbound/sends", G, A, "stats.sends", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/bounces", G, A, "stats.bounces", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/spam", G, A, "stats.spam", 0, ngx_http_postmark_stats,
      0, 900 },
    { "stats/outbound/tracked", G, A, "stats.tracked", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/opens", G, A, "stats.opens", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/opens/platforms", G, A, "stats.opens.platforms", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/opens/emailclients", G, A, "stats.opens.clients", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/opens/readtimes", G, A, "stats.opens.readtimes", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/clicks", G, A, "stats.clicks", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/clicks/browserfamilies", G, A, "stats.clicks.browsers",
      0, ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/clicks/platforms", G, A, "stats.clicks.platforms", 0,
      ngx_http_postmark_stats, 0, 900 },
    { "stats/outbound/clicks/location", G, A, "stats.clicks.location", 0,
      ngx_http_postmark_stats, 0, 900 },

    /* message streams */

    { "message-streams", G, A, "streams.list", 0, ngx_http_postmark_streams,
      0, NGX_HTTP_POSTMARK_E_QUERY },
    { "message-streams/*", G, A, "streams.get", STR, NONE, 0,
      NGX_HTTP_POSTMARK_E_QUERY },
    { "message-streams/*/suppressions/dump", G, S, "suppressions.dump", STR,
      ngx_http_postmark_suppressions, 0, NGX_HTTP_POSTMARK_E_QUERY },

    { NULL, 0, 0, NULL, 0, NULL, 0, 0 }
};

#undef G
#undef P
#undef U
#undef D
#undef T
#undef TW
#undef A
#undef S
#undef TPL
#undef MSG
#undef BNC
#undef STR
#undef PAGED
#undef BODY
#undef NONE


/* what an item of a path must be, as a refusal says it */

static const char *const  ngx_http_postmark_items[] = {
    "",
    "not a template id or alias: an id is a number, an alias up to 100 "
    "letters, digits, \".\", \"-\" and \"_\" that starts with a letter",
    "not a message id: a message id is a UUID",
    "not a bounce id: a bounce id is a number",
    "not a message stream id: a letter, then up to 29 letters, digits, "
    "\"-\" and \"_\""
};


static const ngx_http_postmark_refusal_t  ngx_http_postmark_refusals[] = {

    { "templates/push", 403, NGX_HTTP_POSTMARK_E_PUSH,
      "pushing templates between servers is not allowed through this "
      "proxy" },
    { "server", 403, NGX_HTTP_POSTMARK_E_SECRET,
      "the server's settings hold its API tokens and hook URLs: they are not "
      "available through this portal" },
    { "webhooks", 403, NGX_HTTP_POSTMARK_E_SECRET,
      "webhook settings hold the agency's webhook credentials: they are not "
      "available through this portal" },
    { "webhooks/**", 403, NGX_HTTP_POSTMARK_E_SECRET,
      "webhook settings hold the agency's webhook credentials: they are not "
      "available through this portal" },
    { "bounces/*/activate", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
      "reactivating a bounce changes the server: this portal's activity is "
      "read-only" },
    { "messages/inbound/*/bypass", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
      "bypassing an inbound message's rules changes the server: this "
      "portal's activity is read-only" },
    { "messages/inbound/*/retry", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
      "retrying an inbound message changes the server: this portal's "
      "activity is read-only" },
    { "message-streams/*/suppressions", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
      "adding suppressions changes the server: this portal's activity is "
      "read-only" },
    { "message-streams/*/suppressions/delete", 403,
      NGX_HTTP_POSTMARK_E_READ_ONLY,
      "removing suppressions changes the server: this portal's activity is "
      "read-only" },
    { "message-streams/*/archive", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
      "archiving a stream changes the server: this portal's activity is "
      "read-only" },
    { "message-streams/*/unarchive", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
      "unarchiving a stream changes the server: this portal's activity is "
      "read-only" },
    { "bounces/tags", 404, NGX_HTTP_POSTMARK_E_PATH,
      "/bounces/tags is no longer part of Postmark's API" },

    { NULL, 0, 0, NULL }
};


void
ngx_http_postmark_route(int method, const ngx_http_postmark_scope_t *scope,
    const char *path, size_t path_len, const char *query, size_t query_len,
    ngx_http_postmark_route_t *rt)
{
    size_t                               nseg;
    ngx_http_postmark_span_t             seg[NGX_HTTP_POSTMARK_SEGMENTS];
    ngx_http_postmark_span_t             item;
    const ngx_http_postmark_endpoint_t  *e;

    memset(rt, 0, sizeof(ngx_http_postmark_route_t));

    if (ngx_http_postmark_route_path(path, path_len, seg, &nseg, rt) != 0
        || ngx_http_postmark_route_refused(seg, nseg, rt) != 0)
    {
        return;
    }

    e = ngx_http_postmark_route_match(method, seg, nseg, &item, rt);

    if (e == NULL
        || ngx_http_postmark_route_scope(e, scope, rt) != 0
        || ngx_http_postmark_route_target(e, &item, rt) != 0)
    {
        return;
    }

    if (query_len && e->params == ngx_http_postmark_no_params) {
        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                 "this call takes no query parameters");
        return;
    }

    if (ngx_http_postmark_route_query(e, query, query ? query_len : 0, rt)
        != 0)
    {
        return;
    }

    rt->op = e->op;
    rt->method = e->method;
    rt->body = (e->flags & NGX_HTTP_POSTMARK_BODY) != 0;
    rt->template = (e->item == NGX_HTTP_POSTMARK_I_TEMPLATE);
}


/*
 * Only the characters an id or an alias can have, and "/" between
 * segments.  Encoded bytes, dot segments, doubled slashes, backslashes
 * and ";" parameters are refused: what reaches Postmark is exactly what
 * was checked here.
 */

static int
ngx_http_postmark_route_path(const char *path, size_t len,
    ngx_http_postmark_span_t *seg, size_t *nseg,
    ngx_http_postmark_route_t *rt)
{
    char         c;
    size_t       i, start;
    const char  *why;

    *nseg = 0;

    if (len == 0 || path[0] != '/') {
        ngx_http_postmark_refuse(rt, 404, NGX_HTTP_POSTMARK_E_PATH,
                                 "not part of what this portal serves: "
                                 "templates and activity (messages, bounces, "
                                 "stats, message streams)");
        return -1;
    }

    for (i = 0; i < len; i++) {
        c = path[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '/' || c == '.' || c == '-' || c == '_' || c == '~')
        {
            continue;
        }

        why = (c == '%') ? "percent-encoded bytes"
              : (c == '\\') ? "backslashes"
              : (c == ';') ? "\";\" parameters"
              : ((unsigned char) c < 0x20 || c == 0x7f) ? "control bytes"
              : "this character";

        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_TARGET,
                                 "the path has %s, which are not accepted "
                                 "(byte %zu)", why, i);
        return -1;
    }

    /*
     * One trailing slash is how some SDKs write paths (postmark.js creates
     * templates with "POST /templates/"); the target is rebuilt without it.
     */

    if (len > 1 && path[len - 1] == '/') {
        len--;
    }

    for (start = 1; start <= len; start = i + 1) {

        for (i = start; i < len && path[i] != '/'; i++) { /* void */ }

        if (i == start) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_TARGET,
                                     "the path has an empty segment (a "
                                     "doubled slash)");
            return -1;
        }

        if ((i - start == 1 && path[start] == '.')
            || (i - start == 2 && path[start] == '.' && path[start + 1] == '.'))
        {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_TARGET,
                                     "the path has \".\" or \"..\" "
                                     "segments, which are not accepted");
            return -1;
        }

        if (*nseg == NGX_HTTP_POSTMARK_SEGMENTS) {
            ngx_http_postmark_refuse(rt, 404, NGX_HTTP_POSTMARK_E_PATH,
                                     "not part of what this portal serves");
            return -1;
        }

        seg[*nseg].data = path + start;
        seg[*nseg].len = i - start;
        (*nseg)++;
    }

    return 0;
}


/* the endpoints next to allowed ones that write or reveal secrets */

static int
ngx_http_postmark_route_refused(ngx_http_postmark_span_t *seg, size_t nseg,
    ngx_http_postmark_route_t *rt)
{
    ngx_http_postmark_span_t            found;
    const ngx_http_postmark_refusal_t  *r;

    for (r = ngx_http_postmark_refusals; r->path; r++) {
        if (ngx_http_postmark_pattern(r->path, seg, nseg,
                                      NGX_HTTP_POSTMARK_I_NONE, &found))
        {
            ngx_http_postmark_refuse(rt, r->status, r->code, "%s",
                                     r->message);
            return -1;
        }
    }

    return 0;
}


/*
 * Whether a path's segments match a pattern: literal segments without
 * regard to case, "*" a segment that is a valid "item" (any segment for
 * NGX_HTTP_POSTMARK_I_NONE), "**" every segment left, one at least.
 */

static int
ngx_http_postmark_pattern(const char *pattern, ngx_http_postmark_span_t *seg,
    size_t nseg, ngx_http_postmark_item_e item,
    ngx_http_postmark_span_t *found)
{
    size_t       i, len;
    const char  *p, *end;

    found->data = NULL;
    found->len = 0;

    for (i = 0, p = pattern; *p; i++, p = *end ? end + 1 : end) {

        end = strchr(p, '/');
        if (end == NULL) {
            end = p + strlen(p);
        }

        len = end - p;

        if (len == 2 && p[0] == '*' && p[1] == '*') {
            return i < nseg;
        }

        if (i == nseg) {
            return 0;
        }

        if (len == 1 && p[0] == '*') {
            if (item != NGX_HTTP_POSTMARK_I_NONE
                && !ngx_http_postmark_is_item(item, seg[i].data, seg[i].len))
            {
                return 0;
            }

            *found = seg[i];
            continue;
        }

        if (seg[i].len != len || strncasecmp(seg[i].data, p, len) != 0) {
            return 0;
        }
    }

    return i == nseg;
}


/*
 * The endpoint for the path and the method; a path known for other
 * methods is a 405 with the methods it takes.
 */

static const ngx_http_postmark_endpoint_t *
ngx_http_postmark_route_match(int method, ngx_http_postmark_span_t *seg,
    size_t nseg, ngx_http_postmark_span_t *item,
    ngx_http_postmark_route_t *rt)
{
    int                                  literal, methods;
    ngx_http_postmark_span_t             found;
    const ngx_http_postmark_endpoint_t  *e, *match;

    static const char  *allow[] = {
        "", "GET", "POST", "GET, POST", "PUT", "GET, PUT", "POST, PUT",
        "GET, POST, PUT", "DELETE", "GET, DELETE", "POST, DELETE",
        "GET, POST, DELETE", "PUT, DELETE", "GET, PUT, DELETE",
        "POST, PUT, DELETE", "GET, POST, PUT, DELETE"
    };

    match = NULL;
    methods = 0;
    literal = 0;

    for (e = ngx_http_postmark_endpoints; e->path; e++) {

        /* once a literal path matched, paths with an item do not */

        if (literal && e->item != NGX_HTTP_POSTMARK_I_NONE) {
            break;
        }

        if (!ngx_http_postmark_pattern(e->path, seg, nseg, e->item, &found)) {
            continue;
        }

        literal = (e->item == NGX_HTTP_POSTMARK_I_NONE);
        methods |= 1 << (e->method - 1);

        if (e->method == method && match == NULL) {
            match = e;
            *item = found;
        }
    }

    if (match) {
        return match;
    }

    if (methods) {
        rt->allow = allow[methods & 0xf];
        ngx_http_postmark_refuse(rt, 405, NGX_HTTP_POSTMARK_E_METHOD,
                                 "this path takes %s", rt->allow);
        return NULL;
    }

    /* a known path with an id that is not one */

    for (e = ngx_http_postmark_endpoints; e->path; e++) {
        if (e->item != NGX_HTTP_POSTMARK_I_NONE
            && ngx_http_postmark_pattern(e->path, seg, nseg,
                                         NGX_HTTP_POSTMARK_I_NONE, &found))
        {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_TARGET,
                                     "%s", ngx_http_postmark_items[e->item]);
            return NULL;
        }
    }

    ngx_http_postmark_refuse(rt, 404, NGX_HTTP_POSTMARK_E_PATH,
                             "not part of what this portal serves: "
                             "templates and activity (messages, bounces, "
                             "stats, message streams)");
    return NULL;
}


static int
ngx_http_postmark_route_scope(const ngx_http_postmark_endpoint_t *e,
    const ngx_http_postmark_scope_t *scope, ngx_http_postmark_route_t *rt)
{
    switch (e->needs) {

    case NGX_HTTP_POSTMARK_S_TEMPLATES:
        if (scope->templates != NGX_HTTP_POSTMARK_TEMPLATES_OFF) {
            return 0;
        }

        break;

    case NGX_HTTP_POSTMARK_S_TEMPLATES_WRITE:
        if (scope->templates == NGX_HTTP_POSTMARK_FULL) {
            return 0;
        }

        if (scope->templates == NGX_HTTP_POSTMARK_READ_ONLY) {
            ngx_http_postmark_refuse(rt, 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
                                     "this client's templates are read-only: "
                                     "listing, reading and validating are "
                                     "allowed");
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_S_ACTIVITY:
        if (scope->activity) {
            return 0;
        }

        break;

    default: /* NGX_HTTP_POSTMARK_S_SUPPRESSIONS */
        if (scope->activity && scope->suppressions) {
            return 0;
        }

        ngx_http_postmark_refuse(rt, 403, NGX_HTTP_POSTMARK_E_SCOPE,
                                 "the suppressions of this client's streams "
                                 "are not available through its portal");
        return -1;
    }

    ngx_http_postmark_refuse(rt, 403, NGX_HTTP_POSTMARK_E_SCOPE,
                             "this client's portal has no access to its %s",
                             (e->needs == NGX_HTTP_POSTMARK_S_ACTIVITY)
                             ? "activity" : "templates");
    return -1;
}


/* the endpoint's path in Postmark's spelling, with its item */

static int
ngx_http_postmark_route_target(const ngx_http_postmark_endpoint_t *e,
    ngx_http_postmark_span_t *item, ngx_http_postmark_route_t *rt)
{
    size_t       n;
    const char  *star;

    n = 0;
    star = strchr(e->path, '*');

    if (star == NULL) {
        return ngx_http_postmark_append(rt, &n, "/%s", e->path);
    }

    memcpy(rt->name, item->data, item->len);
    rt->name[item->len] = '\0';

    return ngx_http_postmark_append(rt, &n, "/%.*s%s%s",
                                    (int) (star - e->path), e->path, rt->name,
                                    star + 1);
}


/*
 * Postmark matches query parameter names without regard to case, and the
 * official SDKs spell them differently ("fromDate", "clientName",
 * "client_name"): a name matches without regard to case or underscores,
 * and what is sent is re-encoded in Postmark's spelling and order, each
 * value checked and escaped again.  An empty value counts as absent.
 */

static int
ngx_http_postmark_route_query(const ngx_http_postmark_endpoint_t *e,
    const char *query, size_t len, ngx_http_postmark_route_t *rt)
{
    int                               m;
    char                              name[NGX_HTTP_POSTMARK_NAME_MAX + 1];
    char                              canon[NGX_HTTP_POSTMARK_NAME_MAX + 1];
    char                              meta_key[NGX_HTTP_POSTMARK_NAME_MAX + 1];
    char                              value[NGX_HTTP_POSTMARK_PARAMS]
                                           [NGX_HTTP_POSTMARK_ESCAPED];
    char                              meta[NGX_HTTP_POSTMARK_ESCAPED];
    int                               by_id;
    long                              count, offset, number;
    size_t                            i, end, eq, n, k, nmeta;
    const char                       *p;
    const ngx_http_postmark_param_t  *param;

    memset(value, 0, sizeof(value));
    count = -1;
    offset = -1;
    by_id = 0;
    nmeta = 0;
    meta[0] = '\0';
    meta_key[0] = '\0';

    for (i = 0; i < len; i = end + 1) {

        for (end = i; end < len && query[end] != '&'; end++) { /* void */ }

        p = query + i;
        n = end - i;

        if (n == 0) {
            continue;
        }

        for (eq = 0; eq < n && p[eq] != '='; eq++) { /* void */ }

        if (ngx_http_postmark_query_name(p, eq, name) != 0) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "the query has an empty or invalid "
                                     "parameter name");
            return -1;
        }

        /* metadata_<key>, on the outbound search */

        if (eq > 9 && strncasecmp(p, "metadata_", 9) == 0
            && (e->flags & NGX_HTTP_POSTMARK_METADATA))
        {
            if (eq == n || eq + 1 == n) {
                continue;
            }

            if (++nmeta > 1) {
                ngx_http_postmark_refuse(rt, ngx_http_postmark_bad(e->code),
                                         e->code,
                                         "only one metadata_ filter is "
                                         "allowed at a time");
                return -1;
            }

            snprintf(meta_key, sizeof(meta_key), "%.*s", (int) (eq - 9),
                     p + 9);

            param = &ngx_http_postmark_metadata;

            if (ngx_http_postmark_query_value(param, p + eq + 1, n - eq - 1,
                                              meta, &number, rt, e->code)
                != 0)
            {
                return -1;
            }

            continue;
        }

        for (k = 0; e->params[k].name; k++) {
            (void) ngx_http_postmark_query_name(e->params[k].name,
                                                strlen(e->params[k].name),
                                                canon);
            if (strcmp(canon, name) == 0) {
                break;
            }
        }

        param = &e->params[k];

        if (param->name == NULL || k >= NGX_HTTP_POSTMARK_PARAMS) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "query parameter \"%.*s\" is not taken "
                                     "by this call", (int) eq, p);
            return -1;
        }

        if (param->kind == NGX_HTTP_POSTMARK_Q_DROP
            || eq == n || eq + 1 == n)
        {
            continue;
        }

        if (value[k][0] != '\0') {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "query parameter \"%s\" is repeated",
                                     param->name);
            return -1;
        }

        if (ngx_http_postmark_query_value(param, p + eq + 1, n - eq - 1,
                                          value[k], &number, rt, e->code)
            != 0)
        {
            return -1;
        }

        if (param->kind == NGX_HTTP_POSTMARK_Q_COUNT) {
            count = number;

        } else if (param->kind == NGX_HTTP_POSTMARK_Q_OFFSET) {
            offset = number;

        } else if (param->kind == NGX_HTTP_POSTMARK_Q_UUID) {
            by_id = 1;
        }
    }

    /* the limits Postmark puts on paged searches, checked before it */

    /* bounces of one message ("messageID") are not paged */

    if (e->flags & NGX_HTTP_POSTMARK_PAGED) {
        m = (e->flags & NGX_HTTP_POSTMARK_BY_ID) && by_id;

        if (!m && (count < 0 || offset < 0)) {
            ngx_http_postmark_refuse(rt, ngx_http_postmark_bad(e->code),
                                     e->code, "count and offset are required");
            return -1;
        }

        if (count + offset > NGX_HTTP_POSTMARK_WINDOW) {
            ngx_http_postmark_refuse(rt, ngx_http_postmark_bad(e->code),
                                     e->code,
                                     "count plus offset may not exceed "
                                     "10000; narrow the search with "
                                     "fromdate and todate instead");
            return -1;
        }
    }

    n = strlen(rt->target);
    m = 0;

    for (k = 0; e->params[k].name; k++) {
        if (value[k][0] != '\0'
            && ngx_http_postmark_append(rt, &n, "%c%s=%s", m++ ? '&' : '?',
                                        e->params[k].name, value[k])
               != 0)
        {
            return -1;
        }
    }

    if (meta[0] != '\0'
        && ngx_http_postmark_append(rt, &n, "%cmetadata_%s=%s",
                                    m ? '&' : '?', meta_key, meta)
           != 0)
    {
        return -1;
    }

    return 0;
}


/*
 * A name as matched: lowercase, without underscores.  Names are ASCII
 * letters, digits and "_" only (a metadata key may also have "-" and
 * "."): anything else, or an empty name, is refused.
 */

static int
ngx_http_postmark_query_name(const char *raw, size_t len, char *name)
{
    char    c;
    size_t  i, n, key;

    if (len == 0 || len > NGX_HTTP_POSTMARK_NAME_MAX) {
        return -1;
    }

    key = (len > 9 && strncasecmp(raw, "metadata_", 9) == 0) ? 9 : len;

    for (i = 0, n = 0; i < len; i++) {
        c = raw[i];

        if (c >= 'A' && c <= 'Z') {
            name[n++] = (char) (c | 0x20);

        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            name[n++] = c;

        } else if (c != '_' && !(i >= key && (c == '-' || c == '.'))) {
            return -1;
        }
    }

    name[n] = '\0';

    return n ? 0 : -1;
}


/* a value checked for its kind, written to "out" as it is to be sent */

static int
ngx_http_postmark_query_value(const ngx_http_postmark_param_t *p,
    const char *raw, size_t len, char *out, long *number,
    ngx_http_postmark_route_t *rt, int code)
{
    int             status;
    char            text[NGX_HTTP_POSTMARK_VALUE_MAX + 1];
    size_t          n, i;
    unsigned char   c;

    static const char  hex[] = "0123456789ABCDEF";

    if (ngx_http_postmark_unescape(raw, len, text, &n) != 0) {
        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                 "query parameter \"%s\" is not valid text "
                                 "of up to %d bytes", p->name,
                                 NGX_HTTP_POSTMARK_VALUE_MAX);
        return -1;
    }

    code = code ? code : NGX_HTTP_POSTMARK_E_QUERY;
    status = ngx_http_postmark_bad(code);

    switch (p->kind) {

    case NGX_HTTP_POSTMARK_Q_COUNT:
        if (!ngx_http_postmark_number(text, n, 3, number) || *number > 500) {
            ngx_http_postmark_refuse(rt, status, code,
                                     "%s must be a number from 1 to 500",
                                     p->name);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_OFFSET:
    case NGX_HTTP_POSTMARK_Q_TOFFSET:
        *number = 0;

        if ((n != 1 || text[0] != '0')
            && (!ngx_http_postmark_number(text, n, 6, number)
                || (p->kind == NGX_HTTP_POSTMARK_Q_OFFSET
                    && *number > NGX_HTTP_POSTMARK_WINDOW)))
        {
            ngx_http_postmark_refuse(rt, status, code,
                                     "%s must be a number from 0 to %d",
                                     p->name,
                                     p->kind == NGX_HTTP_POSTMARK_Q_OFFSET
                                     ? NGX_HTTP_POSTMARK_WINDOW : 999999);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_DATE:
        if (ngx_http_postmark_date(text, n, out) != 0) {
            ngx_http_postmark_refuse(rt, status, code, "%s must be a date, "
                                     "such as 2026-11-30, or a date and "
                                     "time, such as 2026-11-30T12:00:00",
                                     p->name);
            return -1;
        }

        return 0;

    case NGX_HTTP_POSTMARK_Q_BOOL:
        if ((n == 4 && strncasecmp(text, "true", 4) == 0)
            || (n == 1 && text[0] == '1'))
        {
            strcpy(out, "true");
            return 0;
        }

        if ((n == 5 && strncasecmp(text, "false", 5) == 0)
            || (n == 1 && text[0] == '0'))
        {
            strcpy(out, "false");
            return 0;
        }

        ngx_http_postmark_refuse(rt, status, code, "%s must be true or false",
                                 p->name);
        return -1;

    case NGX_HTTP_POSTMARK_Q_ENUM:
        for (i = 0; p->values[i]; i++) {
            if (strlen(p->values[i]) == n
                && strncasecmp(p->values[i], text, n) == 0)
            {
                strcpy(out, p->values[i]);
                return 0;
            }
        }

        ngx_http_postmark_refuse(rt, status, code, "%s has an invalid value",
                                 p->name);
        return -1;

    case NGX_HTTP_POSTMARK_Q_STREAM:
        if (!ngx_http_postmark_is_stream(text, n)) {
            ngx_http_postmark_refuse(rt, status, code, "%s must be a "
                                     "message stream's id", p->name);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_UUID:
        if (!ngx_http_postmark_is_uuid(text, n)) {
            ngx_http_postmark_refuse(rt, status, code, "%s must be a "
                                     "message's id", p->name);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_ALIAS:
        if (!ngx_http_postmark_is_alias(text, n)) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "%s must be a template alias", p->name);
            return -1;
        }

        break;

    default: /* NGX_HTTP_POSTMARK_Q_TEXT */
        break;
    }

    /* every byte but the unreserved ones goes escaped */

    for (i = 0; i < n; i++) {
        c = (unsigned char) text[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            *out++ = (char) c;
            continue;
        }

        *out++ = '%';
        *out++ = hex[c >> 4];
        *out++ = hex[c & 0xf];
    }

    *out = '\0';

    return 0;
}


/*
 * A query value decoded: "%XX" and "+" for a space, as forms and the
 * SDKs encode them; what comes out must be UTF-8 without control bytes.
 */

static int
ngx_http_postmark_unescape(const char *raw, size_t len, char *out,
    size_t *out_len)
{
    int             h, l;
    size_t          i, n, more;
    unsigned char   c;

    for (i = 0, n = 0; i < len; i++) {

        if (n == NGX_HTTP_POSTMARK_VALUE_MAX) {
            return -1;
        }

        c = (unsigned char) raw[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%') {
            if (len - i < 3) {
                return -1;
            }

            h = raw[i + 1];
            l = raw[i + 2];

            h = (h >= '0' && h <= '9') ? h - '0'
                : ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
                  ? (h | 0x20) - 'a' + 10 : -1;
            l = (l >= '0' && l <= '9') ? l - '0'
                : ((l | 0x20) >= 'a' && (l | 0x20) <= 'f')
                  ? (l | 0x20) - 'a' + 10 : -1;

            if (h < 0 || l < 0) {
                return -1;
            }

            c = (unsigned char) (h << 4 | l);
            i += 2;
        }

        if (c < 0x20 || c == 0x7f) {
            return -1;
        }

        out[n++] = (char) c;
    }

    out[n] = '\0';
    *out_len = n;

    /* UTF-8, as RFC 3629 allows it */

    for (i = 0; i < n; i += more + 1) {
        c = (unsigned char) out[i];

        more = (c < 0x80) ? 0 : (c >= 0xc2 && c <= 0xdf) ? 1
               : (c >= 0xe0 && c <= 0xef) ? 2 : (c >= 0xf0 && c <= 0xf4) ? 3
               : 4;

        if (more == 4 || n - i <= more) {
            return -1;
        }

        for (l = 1; (size_t) l <= more; l++) {
            c = (unsigned char) out[i + l];

            if (c < 0x80 || c > 0xbf
                || (l == 1 && (unsigned char) out[i] == 0xe0 && c < 0xa0)
                || (l == 1 && (unsigned char) out[i] == 0xed && c > 0x9f)
                || (l == 1 && (unsigned char) out[i] == 0xf0 && c < 0x90)
                || (l == 1 && (unsigned char) out[i] == 0xf4 && c > 0x8f))
            {
                return -1;
            }
        }
    }

    return 0;
}


static int
ngx_http_postmark_is_item(ngx_http_postmark_item_e item, const char *s,
    size_t len)
{
    switch (item) {

    case NGX_HTTP_POSTMARK_I_TEMPLATE:
        return ngx_http_postmark_is_id(s, len)
               || ngx_http_postmark_is_alias(s, len);

    case NGX_HTTP_POSTMARK_I_MESSAGE:
        return ngx_http_postmark_is_uuid(s, len);

    case NGX_HTTP_POSTMARK_I_BOUNCE:
        return ngx_http_postmark_is_id(s, len);

    case NGX_HTTP_POSTMARK_I_STREAM:
        return ngx_http_postmark_is_stream(s, len);

    default:
        return 1;
    }
}


/* a 64-bit id: up to 9223372036854775807, without a leading zero */

static int
ngx_http_postmark_is_id(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > 19 || s[0] == '0') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return len < 19 || strncmp(s, "9223372036854775807", 19) <= 0;
}


/*
 * Postmark's names: a letter, then letters, digits and the punctuation
 * given; an alias may have ".", "-" and "_", a stream's id "-" and "_".
 */

static int
ngx_http_postmark_is_name(const char *s, size_t len, size_t max,
    const char *punct)
{
    char    c;
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (char) (s[i] | 0x20);

        if (!((c >= 'a' && c <= 'z')
              || (i > 0 && ((s[i] >= '0' && s[i] <= '9')
                            || (s[i] != '\0' && strchr(punct, s[i]))))))
        {
            return 0;
        }
    }

    return 1;
}


/* 8-4-4-4-12 hex digits */

static int
ngx_http_postmark_is_uuid(const char *s, size_t len)
{
    char    c;
    size_t  i;

    if (len != 36) {
        return 0;
    }

    for (i = 0; i < 36; i++) {
        c = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }

            continue;
        }

        if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a'
                                         && (c | 0x20) <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A date as Postmark reads one: YYYY-M-D, or with a time after "T" or a
 * space, h:mm, h:mm:ss or h:mm:ss.fraction, and a zone ("Z", "+01:00";
 * a "+" decoded as a space too).  It is written to "out" canonical,
 * zero-padded, "T" between date and time, and encoded for the query.
 */

static int
ngx_http_postmark_date(const char *s, size_t len, char *out)
{
    int          f[6];
    size_t       i, k, digits;
    const char  *end;

    /* year, month, day, hours, minutes, seconds */

    static const int     max[] = { 9999, 12, 31, 23, 59, 60 };
    static const size_t  least[] = { 4, 1, 1, 1, 2, 2 };
    static const size_t  most[] = { 4, 2, 2, 2, 2, 2 };
    static const char    sep[] = "--T::";

    end = s + len;

    for (i = 0; i < 6 && s < end; i++) {
        if (i > 0) {
            if (*s != sep[i - 1] && !(i == 3 && *s == ' ')) {
                break;
            }

            s++;
        }

        for (f[i] = 0, digits = 0; s < end && *s >= '0' && *s <= '9';
             s++, digits++)
        {
            if (digits == most[i]) {
                return -1;
            }

            f[i] = f[i] * 10 + (*s - '0');
        }

        if (digits < least[i] || f[i] > max[i]
            || ((i == 1 || i == 2) && f[i] == 0))
        {
            return -1;
        }
    }

    /* a date, or a date with at least hours and minutes */

    if (i < 3 || i == 4) {
        return -1;
    }

    out += sprintf(out, "%04d-%02d-%02d", f[0], f[1], f[2]);

    if (i == 3) {
        return s == end ? 0 : -1;
    }

    out += sprintf(out, "T%02d%%3A%02d", f[3], f[4]);

    if (i == 6) {
        out += sprintf(out, "%%3A%02d", f[5]);

        if (s < end && *s == '.') {
            *out++ = '.';

            for (s++, k = 0; s < end && *s >= '0' && *s <= '9'; s++, k++) {
                *out++ = *s;
            }

            if (k == 0 || k > 9) {
                return -1;
            }
        }
    }

    if (s + 1 == end && *s == 'Z') {
        strcpy(out, "Z");
        return 0;
    }

    if (s + 6 == end && (*s == '+' || *s == '-' || *s == ' ')
        && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
        && s[3] == ':' && s[4] >= '0' && s[4] <= '9'
        && s[5] >= '0' && s[5] <= '9')
    {
        sprintf(out, "%s%c%c%%3A%c%c", (*s == '-') ? "-" : "%2B",
                s[1], s[2], s[4], s[5]);
        return 0;
    }

    *out = '\0';

    return s == end ? 0 : -1;
}


/* a positive number of at most "max" digits, without leading zeros */

static int
ngx_http_postmark_number(const char *s, size_t len, size_t max, long *value)
{
    size_t  i;

    if (len == 0 || len > max || s[0] == '0') {
        return 0;
    }

    *value = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }

        *value = *value * 10 + (s[i] - '0');
    }

    return 1;
}


/* appends to the target; a target that would not fit is refused */

static int
ngx_http_postmark_append(ngx_http_postmark_route_t *rt, size_t *n,
    const char *fmt, ...)
{
    int      len;
    va_list  args;

    va_start(args, fmt);
    len = vsnprintf(rt->target + *n, sizeof(rt->target) - *n, fmt, args);
    va_end(args);

    if (len < 0 || (size_t) len >= sizeof(rt->target) - *n) {
        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                 "the query is too long");
        return -1;
    }

    *n += len;

    return 0;
}


static void
ngx_http_postmark_refuse(ngx_http_postmark_route_t *rt, int status, int code,
    const char *fmt, ...)
{
    va_list  args;

    /* a refusal carries nothing that could be sent */

    rt->status = status;
    rt->error_code = code;
    rt->op = NULL;
    rt->method = NGX_HTTP_POSTMARK_M_OTHER;
    rt->body = 0;
    rt->template = 0;
    rt->allow = (status == 405) ? rt->allow : NULL;
    rt->target[0] = '\0';
    rt->name[0] = '\0';

    va_start(args, fmt);
    vsnprintf(rt->message, sizeof(rt->message), fmt, args);
    va_end(args);
}
