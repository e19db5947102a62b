
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_ROUTE_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_ROUTE_H_INCLUDED_


/*
 * The pure core of the Templates API proxy: it decides whether a caller's
 * method, path and query are a Templates API call this client may make,
 * and if so writes the canonical request target to send to Postmark.
 * Nothing of the caller's is copied through: the target is rebuilt from
 * what was recognised.  Plain C, without nginx, for unit tests and fuzzing.
 */


#include <stddef.h>


#define NGX_HTTP_POSTMARK_M_OTHER        0
#define NGX_HTTP_POSTMARK_M_GET          1
#define NGX_HTTP_POSTMARK_M_POST         2
#define NGX_HTTP_POSTMARK_M_PUT          3
#define NGX_HTTP_POSTMARK_M_DELETE       4

#define NGX_HTTP_POSTMARK_ALIAS_MAX      100
#define NGX_HTTP_POSTMARK_TARGET_MAX     256

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
#define NGX_HTTP_POSTMARK_E_UPSTREAM     9100


typedef enum {
    NGX_HTTP_POSTMARK_OP_NONE = 0,
    NGX_HTTP_POSTMARK_OP_LIST,
    NGX_HTTP_POSTMARK_OP_GET,
    NGX_HTTP_POSTMARK_OP_CREATE,
    NGX_HTTP_POSTMARK_OP_EDIT,
    NGX_HTTP_POSTMARK_OP_DELETE,
    NGX_HTTP_POSTMARK_OP_VALIDATE
} ngx_http_postmark_op_e;


typedef struct {
    /* a refusal: status is its HTTP status, 0 when the call is allowed */
    int                      status;
    int                      error_code;
    char                     message[160];
    const char              *allow;         /* methods, with 405 */

    /* an allowed call */
    ngx_http_postmark_op_e   op;
    int                      body;          /* takes a JSON object */
    char                     target[NGX_HTTP_POSTMARK_TARGET_MAX];
    char                     name[NGX_HTTP_POSTMARK_ALIAS_MAX + 1];
} ngx_http_postmark_route_t;


/*
 * "path" is the raw request path after the location's prefix, "query"
 * the raw query without its "?", or NULL when the target had no "?".
 */

void ngx_http_postmark_route(int method, int read_only, const char *path,
    size_t path_len, const char *query, size_t query_len,
    ngx_http_postmark_route_t *rt);
const char *ngx_http_postmark_op_name(ngx_http_postmark_op_e op);


#endif /* _NGX_HTTP_POSTMARK_ROUTE_H_INCLUDED_ */
