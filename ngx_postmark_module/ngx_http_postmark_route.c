
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_postmark_route.h"


#define NGX_HTTP_POSTMARK_SEGMENTS  3


typedef struct {
    const char  *data;
    size_t       len;
} ngx_http_postmark_span_t;


static int ngx_http_postmark_route_path(const char *path, size_t len,
    ngx_http_postmark_span_t *seg, size_t *nseg,
    ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_route_item(ngx_http_postmark_span_t *seg,
    int method, ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_route_query(const char *query, size_t len,
    ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_query_value(int param, const char *v,
    size_t len, char *out, size_t size, ngx_http_postmark_route_t *rt);
static int ngx_http_postmark_is_alias(const char *s, size_t len);
static int ngx_http_postmark_number(const char *s, size_t len, size_t max,
    long *value);
static int ngx_http_postmark_span_is(ngx_http_postmark_span_t *s,
    const char *text);
static void ngx_http_postmark_refuse(ngx_http_postmark_route_t *rt,
    int status, int code, const char *fmt, ...);


static const char  *ngx_http_postmark_params[] = {
    "Count", "Offset", "TemplateType", "LayoutTemplate"
};

#define NGX_HTTP_POSTMARK_PARAMS                                            \
    (sizeof(ngx_http_postmark_params) / sizeof(ngx_http_postmark_params[0]))


void
ngx_http_postmark_route(int method, int read_only, const char *path,
    size_t path_len, const char *query, size_t query_len,
    ngx_http_postmark_route_t *rt)
{
    size_t                    nseg;
    ngx_http_postmark_span_t  seg[NGX_HTTP_POSTMARK_SEGMENTS];

    memset(rt, 0, sizeof(ngx_http_postmark_route_t));

    if (ngx_http_postmark_route_path(path, path_len, seg, &nseg, rt) != 0) {
        return;
    }

    if (nseg == 0 || nseg > 2 || !ngx_http_postmark_span_is(&seg[0],
                                                            "templates"))
    {
        ngx_http_postmark_refuse(rt, 404, NGX_HTTP_POSTMARK_E_PATH,
                                 "only the Templates API (/templates) is "
                                 "available through this proxy");
        return;
    }

    if (nseg == 1) {
        if (method == NGX_HTTP_POSTMARK_M_GET) {
            rt->op = NGX_HTTP_POSTMARK_OP_LIST;

        } else if (method == NGX_HTTP_POSTMARK_M_POST) {
            rt->op = NGX_HTTP_POSTMARK_OP_CREATE;

        } else {
            rt->allow = "GET, POST";
            ngx_http_postmark_refuse(rt, 405, NGX_HTTP_POSTMARK_E_METHOD,
                                     "/templates takes GET or POST");
            return;
        }

        strcpy(rt->target, "/templates");

    } else if (ngx_http_postmark_route_item(&seg[1], method, rt) != 0) {
        return;
    }

    if (read_only && (rt->op == NGX_HTTP_POSTMARK_OP_CREATE
                      || rt->op == NGX_HTTP_POSTMARK_OP_EDIT
                      || rt->op == NGX_HTTP_POSTMARK_OP_DELETE))
    {
        ngx_http_postmark_refuse(rt, 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
                                 "this client's templates are read-only: "
                                 "listing, reading and validating are "
                                 "allowed");
        return;
    }

    if (rt->op == NGX_HTTP_POSTMARK_OP_LIST) {
        if (ngx_http_postmark_route_query(query, query_len, rt) != 0) {
            return;
        }

    } else if (query_len) {
        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                 "this call takes no query parameters");
        return;
    }

    rt->body = (rt->op == NGX_HTTP_POSTMARK_OP_CREATE
                || rt->op == NGX_HTTP_POSTMARK_OP_EDIT
                || rt->op == NGX_HTTP_POSTMARK_OP_VALIDATE);
}


const char *
ngx_http_postmark_op_name(ngx_http_postmark_op_e op)
{
    static const char  *names[] = {
        "", "list", "get", "create", "edit", "delete", "validate"
    };

    return names[op];
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
                                 "only the Templates API (/templates) is "
                                 "available through this proxy");
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

        if (*nseg < NGX_HTTP_POSTMARK_SEGMENTS) {
            seg[*nseg].data = path + start;
            seg[*nseg].len = i - start;
        }

        (*nseg)++;
    }

    return 0;
}


/* /templates/validate, /templates/push, or one template by id or alias */

static int
ngx_http_postmark_route_item(ngx_http_postmark_span_t *seg, int method,
    ngx_http_postmark_route_t *rt)
{
    long  id;

    if (ngx_http_postmark_span_is(seg, "push")) {
        ngx_http_postmark_refuse(rt, 403, NGX_HTTP_POSTMARK_E_PUSH,
                                 "pushing templates between servers is not "
                                 "allowed through this proxy");
        return -1;
    }

    if (ngx_http_postmark_span_is(seg, "validate")) {
        if (method != NGX_HTTP_POSTMARK_M_POST) {
            rt->allow = "POST";
            ngx_http_postmark_refuse(rt, 405, NGX_HTTP_POSTMARK_E_METHOD,
                                     "/templates/validate takes POST");
            return -1;
        }

        rt->op = NGX_HTTP_POSTMARK_OP_VALIDATE;
        strcpy(rt->target, "/templates/validate");
        return 0;
    }

    if (!ngx_http_postmark_number(seg->data, seg->len, 18, &id)
        && !ngx_http_postmark_is_alias(seg->data, seg->len))
    {
        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_TARGET,
                                 "not a template id or alias: an id is a "
                                 "number, an alias up to %d letters, digits, "
                                 "\".\", \"-\" and \"_\" that starts with a "
                                 "letter", NGX_HTTP_POSTMARK_ALIAS_MAX);
        return -1;
    }

    switch (method) {

    case NGX_HTTP_POSTMARK_M_GET:
        rt->op = NGX_HTTP_POSTMARK_OP_GET;
        break;

    case NGX_HTTP_POSTMARK_M_PUT:
        rt->op = NGX_HTTP_POSTMARK_OP_EDIT;
        break;

    case NGX_HTTP_POSTMARK_M_DELETE:
        rt->op = NGX_HTTP_POSTMARK_OP_DELETE;
        break;

    default:
        rt->allow = "GET, PUT, DELETE";
        ngx_http_postmark_refuse(rt, 405, NGX_HTTP_POSTMARK_E_METHOD,
                                 "/templates/{id or alias} takes GET, PUT "
                                 "or DELETE");
        return -1;
    }

    memcpy(rt->name, seg->data, seg->len);
    rt->name[seg->len] = '\0';

    snprintf(rt->target, sizeof(rt->target), "/templates/%s", rt->name);

    return 0;
}


/*
 * Postmark matches query parameter names without regard to case, and the
 * official SDKs differ ("Count", "count"); what is sent is re-encoded in
 * Postmark's documented spelling and order.
 */

static int
ngx_http_postmark_route_query(const char *query, size_t len,
    ngx_http_postmark_route_t *rt)
{
    char         value[NGX_HTTP_POSTMARK_PARAMS][NGX_HTTP_POSTMARK_ALIAS_MAX
                                                 + 1];
    size_t       i, end, eq, n, k;
    const char  *p, *name;

    memset(value, 0, sizeof(value));

    for (i = 0; i < len; i = end + 1) {

        for (end = i; end < len && query[end] != '&'; end++) { /* void */ }

        p = query + i;
        n = end - i;

        for (eq = 0; eq < n && p[eq] != '='; eq++) { /* void */ }

        for (k = 0; k < eq; k++) {
            if (!((p[k] >= 'a' && p[k] <= 'z') || (p[k] >= 'A' && p[k] <= 'Z')))
            {
                break;
            }
        }

        if (n == 0 || eq == 0 || k < eq) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "the query has an empty or invalid "
                                     "parameter name");
            return -1;
        }

        for (k = 0; k < NGX_HTTP_POSTMARK_PARAMS; k++) {
            name = ngx_http_postmark_params[k];

            if (strlen(name) == eq && strncasecmp(name, p, eq) == 0) {
                break;
            }
        }

        if (k == NGX_HTTP_POSTMARK_PARAMS) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "query parameter \"%.*s\" is not "
                                     "allowed; use Count, Offset, "
                                     "TemplateType and LayoutTemplate",
                                     (int) (eq > 32 ? 32 : eq), p);
            return -1;
        }

        if (value[k][0] != '\0') {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "query parameter \"%s\" is repeated",
                                     ngx_http_postmark_params[k]);
            return -1;
        }

        if (eq == n
            || ngx_http_postmark_query_value((int) k, p + eq + 1, n - eq - 1,
                                             value[k], sizeof(value[k]), rt)
               != 0)
        {
            if (rt->status == 0) {
                ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                         "query parameter \"%s\" needs a "
                                         "value", ngx_http_postmark_params[k]);
            }

            return -1;
        }
    }

    n = strlen(rt->target);

    for (k = 0; k < NGX_HTTP_POSTMARK_PARAMS; k++) {
        if (value[k][0] != '\0') {
            n += snprintf(rt->target + n, sizeof(rt->target) - n, "%c%s=%s",
                          n == sizeof("/templates") - 1 ? '?' : '&',
                          ngx_http_postmark_params[k], value[k]);
        }
    }

    return 0;
}


static int
ngx_http_postmark_query_value(int param, const char *v, size_t len,
    char *out, size_t size, ngx_http_postmark_route_t *rt)
{
    long          n;
    const char   *name;
    static const char  *types[] = { "All", "Standard", "Layout" };

    if (len == 0) {
        return -1;
    }

    name = ngx_http_postmark_params[param];

    switch (param) {

    case 0:     /* Count */
        if (!ngx_http_postmark_number(v, len, 3, &n) || n < 1 || n > 500) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "Count must be a number from 1 to 500");
            return -1;
        }

        snprintf(out, size, "%ld", n);
        return 0;

    case 1:     /* Offset */
        if (!(len == 1 && v[0] == '0')
            && !ngx_http_postmark_number(v, len, 6, &n))
        {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "Offset must be a number from 0 to "
                                     "999999");
            return -1;
        }

        snprintf(out, size, "%.*s", (int) len, v);
        return 0;

    case 2:     /* TemplateType */
        for (n = 0; n < 3; n++) {
            if (strlen(types[n]) == len && strncasecmp(types[n], v, len) == 0)
            {
                snprintf(out, size, "%s", types[n]);
                return 0;
            }
        }

        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                 "TemplateType must be All, Standard or "
                                 "Layout");
        return -1;

    default:    /* LayoutTemplate */
        if (!ngx_http_postmark_is_alias(v, len)) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "%s must be a template alias", name);
            return -1;
        }

        snprintf(out, size, "%.*s", (int) len, v);
        return 0;
    }
}


/* Postmark: letters, digits, ".", "-" and "_", starting with a letter */

static int
ngx_http_postmark_is_alias(const char *s, size_t len)
{
    char    c;
    size_t  i;

    if (len == 0 || len > NGX_HTTP_POSTMARK_ALIAS_MAX
        || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    {
        return 0;
    }

    for (i = 1; i < len; i++) {
        c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
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


static int
ngx_http_postmark_span_is(ngx_http_postmark_span_t *s, const char *text)
{
    return s->len == strlen(text) && memcmp(s->data, text, s->len) == 0;
}


static void
ngx_http_postmark_refuse(ngx_http_postmark_route_t *rt, int status, int code,
    const char *fmt, ...)
{
    va_list  args;

    /* a refusal carries nothing that could be sent */

    rt->status = status;
    rt->error_code = code;
    rt->op = NGX_HTTP_POSTMARK_OP_NONE;
    rt->body = 0;
    rt->target[0] = '\0';
    rt->name[0] = '\0';

    va_start(args, fmt);
    vsnprintf(rt->message, sizeof(rt->message), fmt, args);
    va_end(args);
}
