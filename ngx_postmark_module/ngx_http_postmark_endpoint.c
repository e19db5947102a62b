
/*
 * Copyright (C) ngx_postmark_module authors
 */



/*
 * Every call a portal may make, with the query parameters each takes in
 * Postmark's spelling, and the calls next to them that never pass.
 */


#include "ngx_http_postmark_endpoint.h"


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

const ngx_http_postmark_param_t  ngx_http_postmark_no_params[] = {
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

const ngx_http_postmark_param_t  ngx_http_postmark_metadata_param =
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

const ngx_http_postmark_endpoint_t  ngx_http_postmark_endpoints[] = {

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

const char *const  ngx_http_postmark_items[] = {
    "",
    "not a template id or alias: an id is a number, an alias up to 100 "
    "letters, digits, \".\", \"-\" and \"_\" that starts with a letter",
    "not a message id: a message id is a UUID",
    "not a bounce id: a bounce id is a number",
    "not a message stream id: a letter, then up to 29 letters, digits, "
    "\"-\" and \"_\""
};


const ngx_http_postmark_refusal_t  ngx_http_postmark_refusals[] = {

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
