
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_JSON_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_JSON_H_INCLUDED_


/*
 * The module's one JSON scanner: it reads JSON text strictly, as RFC 8259
 * defines it, so that what it accepts every parser a destination may use
 * reads the same way (Node's JSON.parse, Python's json, Go, Java).  It
 * never builds a tree: callers walk the text with it, and keep spans of
 * the text itself.  Plain C, without nginx, for unit tests and fuzzing.
 *
 * Refused: a byte-order mark, blanks other than space, tab, CR and LF,
 * control bytes and invalid UTF-8 in strings, escapes other than JSON's
 * ("\uZZZZ"), numbers outside JSON's grammar, and nesting deeper than the
 * caller allows.  A lone surrogate escape ("\ud800") is valid JSON.
 */


#include <stddef.h>


#define NGX_HTTP_POSTMARK_JSON_DEPTH  1000      /* Python's json stops near */


typedef struct {
    const unsigned char   *start;
    const unsigned char   *p;
    const unsigned char   *end;
    size_t                 depth_max;          /* 0: no limit */
    int                    too_deep;           /* why the last value failed */
} ngx_http_postmark_json_t;


void ngx_http_postmark_json_init(ngx_http_postmark_json_t *j, const char *text,
    size_t len, size_t depth_max);
int ngx_http_postmark_json_string(ngx_http_postmark_json_t *j, int *escaped);
int ngx_http_postmark_json_value(ngx_http_postmark_json_t *j);
size_t ngx_http_postmark_json_unescape(const char *raw, size_t len, char *out,
    int *nul);
size_t ngx_http_postmark_json_cut(const char *raw, size_t len);


/* blanks between tokens; called at every one, so inline */

static inline void
ngx_http_postmark_json_blank(ngx_http_postmark_json_t *j)
{
    while (j->p < j->end
           && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r'
               || *j->p == '\t'))
    {
        j->p++;
    }
}


/* where the scan stands, or stopped */

#define ngx_http_postmark_json_offset(j)  ((size_t) ((j)->p - (j)->start))


#endif /* _NGX_HTTP_POSTMARK_JSON_H_INCLUDED_ */
