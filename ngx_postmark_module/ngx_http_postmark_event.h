
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_EVENT_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_EVENT_H_INCLUDED_


/*
 * The pure core of the webhook receiver: it reads an untrusted body, names
 * the Postmark event in it and decides which filters match.  The body is
 * read strictly (ngx_http_postmark_json.h) and no tree is built: only the
 * members the filters look at are kept.  A body that JSON parsers could
 * read differently from the filters is refused: routed members twice, or
 * with an escaped NUL.  Plain C, without nginx, for unit tests and fuzzing.
 */


#include <stddef.h>


#define NGX_HTTP_POSTMARK_BOUNCE               0x0001
#define NGX_HTTP_POSTMARK_SPAM_COMPLAINT       0x0002
#define NGX_HTTP_POSTMARK_DELIVERY             0x0004
#define NGX_HTTP_POSTMARK_OPEN                 0x0008
#define NGX_HTTP_POSTMARK_CLICK                0x0010
#define NGX_HTTP_POSTMARK_SUBSCRIPTION_CHANGE  0x0020
#define NGX_HTTP_POSTMARK_INBOUND              0x0040
#define NGX_HTTP_POSTMARK_OTHER                0x0080


typedef enum {
    NGX_HTTP_POSTMARK_EVENT_OK = 0,
    NGX_HTTP_POSTMARK_EVENT_EMPTY,
    NGX_HTTP_POSTMARK_EVENT_INVALID_JSON,
    NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA,
    NGX_HTTP_POSTMARK_EVENT_NOT_OBJECT,
    NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE,
    NGX_HTTP_POSTMARK_EVENT_BOM,
    NGX_HTTP_POSTMARK_EVENT_TOO_DEEP,
    NGX_HTTP_POSTMARK_EVENT_DUPLICATE,         /* "member", twice */
    NGX_HTTP_POSTMARK_EVENT_NUL,               /* "member" has \u0000 */
    NGX_HTTP_POSTMARK_EVENT_NO_MEMORY
} ngx_http_postmark_event_rc_e;


#define NGX_HTTP_POSTMARK_META_STRING          1
#define NGX_HTTP_POSTMARK_META_NUMBER          2
#define NGX_HTTP_POSTMARK_META_BOOLEAN         3
#define NGX_HTTP_POSTMARK_META_OTHER           4


/* a member of Metadata: a string decoded, a number or boolean as written */

typedef struct {
    const char    *key;
    const char    *value;           /* NULL for null, objects, arrays */
    int            type;
} ngx_http_postmark_meta_t;


typedef struct {
    unsigned                    type;          /* one NGX_HTTP_POSTMARK_* */
    const char                 *record_type;   /* "Inbound" without one */

    /* decoded, NUL-terminated; NULL when absent or not a string */
    const char                 *stream;
    const char                 *tag;
    const char                 *message_id;

    int                         metadata;      /* Metadata is an object */
    ngx_http_postmark_meta_t   *meta;          /* its members, by key */
    size_t                      nmeta;

    /* on error */
    size_t                      error_offset;
    const char                 *member;

    void                       *mem;
} ngx_http_postmark_event_t;


typedef struct {
    const char   **values;
    size_t         n;
} ngx_http_postmark_list_t;


typedef struct {
    unsigned                   types;     /* 0 matches every type */
    ngx_http_postmark_list_t   streams;
    ngx_http_postmark_list_t   tags;

    /* pairs; the same key may appear several times */
    const char               **meta_keys;
    const char               **meta_values;
    size_t                     nmeta;
} ngx_http_postmark_filter_t;


ngx_http_postmark_event_rc_e ngx_http_postmark_json_object(const char *body,
    size_t len, size_t *error_offset);
ngx_http_postmark_event_rc_e ngx_http_postmark_event_parse(const char *body,
    size_t len, ngx_http_postmark_event_t *ev);
void ngx_http_postmark_event_free(ngx_http_postmark_event_t *ev);
const char *ngx_http_postmark_event_strerror(ngx_http_postmark_event_rc_e rc);

unsigned ngx_http_postmark_event_type(const char *name, int ignore_case);
const char *ngx_http_postmark_event_type_names(void);

int ngx_http_postmark_filter_match(const ngx_http_postmark_filter_t *f,
    const ngx_http_postmark_event_t *ev);


#endif /* _NGX_HTTP_POSTMARK_EVENT_H_INCLUDED_ */
