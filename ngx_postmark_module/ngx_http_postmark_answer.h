
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_ANSWER_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_ANSWER_H_INCLUDED_


/*
 * The pure core that reads a destination's answer to a forward: an
 * HTTP/1.x response, fed as it arrives, in pieces of any size.  It is
 * strict: a status line and a whole head, then the body by
 * Content-Length, chunked, or until the connection closes; interim (1xx)
 * answers are skipped; heads are bounded.  A truncated or malformed
 * answer is an error, never a success.  It says whether the connection
 * may carry the next request.  Plain C, without nginx, for unit tests and
 * fuzzing.
 */


#include <stddef.h>


#define NGX_HTTP_POSTMARK_ANSWER_AGAIN   0      /* more bytes, please */
#define NGX_HTTP_POSTMARK_ANSWER_DONE    1
#define NGX_HTTP_POSTMARK_ANSWER_ERROR  -1

#define NGX_HTTP_POSTMARK_ANSWER_HEAD   32768   /* of all heads, at most */
#define NGX_HTTP_POSTMARK_ANSWER_VALUE  64      /* of a header we read */


typedef void (*ngx_http_postmark_answer_body_pt)(void *data, const char *p,
    size_t len);

typedef struct {
    /* what the answer said */
    int                                status;     /* 0: no final head yet */
    char                               retry_after[
                                           NGX_HTTP_POSTMARK_ANSWER_VALUE];
    const char                        *error;      /* why it is refused */
    unsigned                           keepalive:1;

    /* where the reading stands */
    int                                state;
    size_t                             head;       /* bytes of heads read */
    long long                          length;     /* Content-Length, or -1 */
    long long                          left;       /* of the body, a chunk */
    size_t                             digits;
    char                               name[NGX_HTTP_POSTMARK_ANSWER_VALUE];
    size_t                             name_len;
    char                               value[NGX_HTTP_POSTMARK_ANSWER_VALUE];
    size_t                             value_len;
    unsigned                           minor:1;    /* HTTP/1.1 */
    unsigned                           chunked:1;
    unsigned                           close:1;    /* Connection: close */
    unsigned                           alive:1;    /* Connection: keep-alive */
    unsigned                           long_value:1;
} ngx_http_postmark_answer_t;


void ngx_http_postmark_answer_init(ngx_http_postmark_answer_t *a);
int ngx_http_postmark_answer_parse(ngx_http_postmark_answer_t *a,
    const char *p, size_t len, size_t *used,
    ngx_http_postmark_answer_body_pt body, void *data);
int ngx_http_postmark_answer_eof(ngx_http_postmark_answer_t *a);


#endif /* _NGX_HTTP_POSTMARK_ANSWER_H_INCLUDED_ */
