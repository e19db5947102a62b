
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_postmark_endpoint.h"


/* bytes of a caller's parameter name a refusal quotes, at most */

#define NGX_HTTP_POSTMARK_QUOTED      32
#define NGX_HTTP_POSTMARK_QUOTED_MAX  (4 * NGX_HTTP_POSTMARK_QUOTED + 4)


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
static void ngx_http_postmark_route_no_query(const char *query, size_t len,
    ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_query_name(const char *raw, size_t len,
    char *name);
static void ngx_http_postmark_quote(const char *raw, size_t len, char *out);


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
        ngx_http_postmark_route_no_query(query, query_len, rt);
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
    char                              quoted[NGX_HTTP_POSTMARK_QUOTED_MAX];
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
            ngx_http_postmark_quote(p, eq, quoted);
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "the query has an empty or invalid "
                                     "parameter name: \"%s\"", quoted);
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

            param = &ngx_http_postmark_metadata_param;

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
 * A call that takes no parameters got some: the refusal names the first
 * one, as it names a parameter another call does not take.
 */

static void
ngx_http_postmark_route_no_query(const char *query, size_t len,
    ngx_http_postmark_route_t *rt)
{
    char    quoted[NGX_HTTP_POSTMARK_QUOTED_MAX];
    size_t  i, end;

    for (i = 0; i < len && query[i] == '&'; i++) { /* void */ }

    for (end = i; end < len && query[end] != '&' && query[end] != '=';
         end++)
    {
        /* void */
    }

    ngx_http_postmark_quote(query + i, end - i, quoted);
    ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                             "this call takes no query parameters "
                             "(got \"%s\")", quoted);
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


/*
 * A caller's name as a refusal quotes it: at most 32 bytes of it, then
 * "...", printable ASCII as it came and every other byte (and the quote
 * and the backslash) as "\xHH", so that neither the answer nor the log
 * line the refusal becomes carries a control byte of the caller's.
 */

static void
ngx_http_postmark_quote(const char *raw, size_t len, char *out)
{
    size_t          i;
    unsigned char   c;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < len && i < NGX_HTTP_POSTMARK_QUOTED; i++) {
        c = (unsigned char) raw[i];

        if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *out++ = (char) c;
            continue;
        }

        *out++ = '\\';
        *out++ = 'x';
        *out++ = hex[c >> 4];
        *out++ = hex[c & 0xf];
    }

    if (len > NGX_HTTP_POSTMARK_QUOTED) {
        memcpy(out, "...", 3);
        out += 3;
    }

    *out = '\0';
}
