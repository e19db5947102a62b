
/*
 * Copyright (C) ngx_postmark_module authors
 */



/*
 * What the three files of the route core share (ngx_http_postmark_route.c
 * routes a call, ngx_http_postmark_endpoint.c lists what passes and what
 * never does, ngx_http_postmark_value.c checks each value): the tables'
 * types, and the checks of query values and path items.
 */

#ifndef _NGX_HTTP_POSTMARK_ENDPOINT_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_ENDPOINT_H_INCLUDED_


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


/*
 * A bad query value is answered as Postmark would: 422 with the code of
 * its API's query errors; the Templates API's get the proxy's own.
 */

#define ngx_http_postmark_bad(code)                                         \
    ((code) == NGX_HTTP_POSTMARK_E_QUERY ? 400 : 422)


extern const ngx_http_postmark_endpoint_t  ngx_http_postmark_endpoints[];
extern const ngx_http_postmark_refusal_t   ngx_http_postmark_refusals[];
extern const char *const                   ngx_http_postmark_items[];
extern const ngx_http_postmark_param_t     ngx_http_postmark_metadata_param;
extern const ngx_http_postmark_param_t     ngx_http_postmark_no_params[];


int ngx_http_postmark_query_value(const ngx_http_postmark_param_t *p,
    const char *raw, size_t len, char *out, long *number,
    ngx_http_postmark_route_t *rt, int code);
int ngx_http_postmark_is_item(ngx_http_postmark_item_e item, const char *s,
    size_t len);
int ngx_http_postmark_append(ngx_http_postmark_route_t *rt, size_t *n,
    const char *fmt, ...);
void ngx_http_postmark_refuse(ngx_http_postmark_route_t *rt, int status,
    int code, const char *fmt, ...);


#endif /* _NGX_HTTP_POSTMARK_ENDPOINT_H_INCLUDED_ */
