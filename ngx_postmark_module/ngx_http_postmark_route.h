
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_ROUTE_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_ROUTE_H_INCLUDED_


/*
 * The pure core of a client's portal API: it decides whether a caller's
 * method, path and query are a call of Postmark's API that this client's
 * portal may make (its templates, and what Postmark's "server viewer"
 * role sees: messages, bounces, statistics, message streams), and if so
 * writes the canonical request target to send to Postmark.  Nothing of
 * the caller's is copied through: the target is rebuilt from what was
 * recognised.  Plain C, without nginx, for unit tests and fuzzing.
 */


#include <stddef.h>


#define NGX_HTTP_POSTMARK_M_OTHER        0
#define NGX_HTTP_POSTMARK_M_GET          1
#define NGX_HTTP_POSTMARK_M_POST         2
#define NGX_HTTP_POSTMARK_M_PUT          3
#define NGX_HTTP_POSTMARK_M_DELETE       4
#define NGX_HTTP_POSTMARK_M_PATCH        5

#define NGX_HTTP_POSTMARK_ALIAS_MAX      100
#define NGX_HTTP_POSTMARK_TARGET_MAX     8192    /* nginx's request line */

/* what a client's portal may reach */

#define NGX_HTTP_POSTMARK_TEMPLATES_OFF  0
#define NGX_HTTP_POSTMARK_READ_ONLY      1
#define NGX_HTTP_POSTMARK_FULL           2

typedef struct {
    int          templates;     /* off, read-only or full */
    int          activity;      /* messages, bounces, stats, streams */
    int          suppressions;  /* the suppressions dump: addresses */
} ngx_http_postmark_scope_t;

/* ErrorCode of the proxy's own refusals; Postmark's codes are below 9000 */

#define NGX_HTTP_POSTMARK_E_TOKEN        10      /* Postmark's own code */
#define NGX_HTTP_POSTMARK_E_JSON         402     /* Postmark's own code */
#define NGX_HTTP_POSTMARK_E_PATH         9001
#define NGX_HTTP_POSTMARK_E_METHOD       9002
#define NGX_HTTP_POSTMARK_E_READ_ONLY    9003
#define NGX_HTTP_POSTMARK_E_TARGET       9004
#define NGX_HTTP_POSTMARK_E_QUERY        9005
#define NGX_HTTP_POSTMARK_E_TOO_LARGE    9006
#define NGX_HTTP_POSTMARK_E_HEADER       9007
#define NGX_HTTP_POSTMARK_E_PUSH         9008
#define NGX_HTTP_POSTMARK_E_BODY         9009
#define NGX_HTTP_POSTMARK_E_SECRET       9010
#define NGX_HTTP_POSTMARK_E_SCOPE        9011
#define NGX_HTTP_POSTMARK_E_UPSTREAM     9100


typedef struct {
    /* a refusal: status is its HTTP status, 0 when the call is allowed */
    int                      status;
    int                      error_code;
    char                     message[256];
    const char              *allow;         /* methods, with 405 */

    /* an allowed call */
    const char              *op;            /* "templates.list", ... */
    int                      method;        /* to send */
    int                      body;          /* takes a JSON object */
    int                      template;      /* "name" is a template's */
    char                     target[NGX_HTTP_POSTMARK_TARGET_MAX];
    char                     name[NGX_HTTP_POSTMARK_ALIAS_MAX + 1];
} ngx_http_postmark_route_t;


/*
 * "path" is the raw request path after the location's prefix, "query"
 * the raw query without its "?", or NULL when the target had no "?".
 */

void ngx_http_postmark_route(int method,
    const ngx_http_postmark_scope_t *scope, const char *path, size_t path_len,
    const char *query, size_t query_len, ngx_http_postmark_route_t *rt);


#endif /* _NGX_HTTP_POSTMARK_ROUTE_H_INCLUDED_ */
