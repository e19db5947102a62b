
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_TRIM_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_TRIM_H_INCLUDED_


/*
 * Removes members from a JSON object's text and changes no other byte:
 * numbers, escapes, key order and spacing stay as they came.  A path
 * names a member through nested objects ("Geo.IP"); every member of that
 * name goes, duplicates included.  Plain C, without nginx.
 */


#include <stddef.h>


#define NGX_HTTP_POSTMARK_PATH_DEPTH  8
#define NGX_HTTP_POSTMARK_PATHS_MAX   32


typedef struct {
    const char  *segment[NGX_HTTP_POSTMARK_PATH_DEPTH];
    size_t       len[NGX_HTTP_POSTMARK_PATH_DEPTH];
    size_t       n;
} ngx_http_postmark_path_t;


int ngx_http_postmark_path_parse(const char *text, size_t len,
    ngx_http_postmark_path_t *path);
long ngx_http_postmark_trim(const char *in, size_t len,
    const ngx_http_postmark_path_t *paths, size_t npaths, char *out);


#endif /* _NGX_HTTP_POSTMARK_TRIM_H_INCLUDED_ */
