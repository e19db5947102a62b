
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <string.h>

#include "ngx_http_postmark_json.h"
#include "ngx_http_postmark_trim.h"


#define NGX_HTTP_POSTMARK_KEY_MAX  255

/* no escape decodes shorter than a sixth of itself */
#define NGX_HTTP_POSTMARK_RAW_KEY_MAX  (6 * NGX_HTTP_POSTMARK_KEY_MAX)


typedef struct {
    ngx_http_postmark_json_t   json;
    char                      *out;
    char                      *last;
} ngx_http_postmark_scan_t;


static int ngx_http_postmark_trim_object(ngx_http_postmark_scan_t *s,
    const ngx_http_postmark_path_t *paths, const size_t *active,
    size_t nactive, size_t depth);
static int ngx_http_postmark_emit(ngx_http_postmark_scan_t *s,
    const char *data, size_t len);


/* "Geo.IP": up to 8 names of up to 255 bytes, separated by dots */

int
ngx_http_postmark_path_parse(const char *text, size_t len,
    ngx_http_postmark_path_t *path)
{
    size_t  i, start;

    path->n = 0;

    for (start = 0, i = 0; i <= len; i++) {

        if (i < len && text[i] != '.') {
            if ((unsigned char) text[i] < 0x20 || text[i] == 0x7f) {
                return -1;
            }

            continue;
        }

        if (i == start || i - start > NGX_HTTP_POSTMARK_KEY_MAX
            || path->n == NGX_HTTP_POSTMARK_PATH_DEPTH)
        {
            return -1;
        }

        path->segment[path->n] = text + start;
        path->len[path->n] = i - start;
        path->n++;

        start = i + 1;
    }

    return 0;
}


/*
 * Writes to "out", which has room for "len" bytes, the object in "in"
 * without the members the paths name.  Returns the length written, or -1
 * when "in" is not one JSON object, read as strictly as the receiver
 * reads events.
 */

long
ngx_http_postmark_trim(const char *in, size_t len,
    const ngx_http_postmark_path_t *paths, size_t npaths, char *out)
{
    size_t                    i, active[NGX_HTTP_POSTMARK_PATHS_MAX];
    const char               *start;
    ngx_http_postmark_scan_t  s;

    if (npaths > NGX_HTTP_POSTMARK_PATHS_MAX) {
        return -1;
    }

    for (i = 0; i < npaths; i++) {
        active[i] = i;
    }

    ngx_http_postmark_json_init(&s.json, in, len, 0);
    s.out = out;
    s.last = out + len;

    ngx_http_postmark_json_blank(&s.json);

    if (ngx_http_postmark_emit(&s, in, ngx_http_postmark_json_offset(&s.json))
        != 0
        || s.json.p == s.json.end || *s.json.p != '{'
        || ngx_http_postmark_trim_object(&s, paths, active, npaths, 0) != 0)
    {
        return -1;
    }

    start = (const char *) s.json.p;
    ngx_http_postmark_json_blank(&s.json);

    if (s.json.p != s.json.end
        || ngx_http_postmark_emit(&s, start,
                                  (const char *) s.json.p - start)
           != 0)
    {
        return -1;
    }

    return s.out - out;
}


/*
 * Members are copied as they are, and so are the separators: the one
 * after a kept member goes before the next kept member, so removing any
 * member, first, last or alone, leaves valid JSON.
 */

static int
ngx_http_postmark_trim_object(ngx_http_postmark_scan_t *s,
    const ngx_http_postmark_path_t *paths, const size_t *active,
    size_t nactive, size_t depth)
{
    int                              remove, escaped, nul;
    char                             key[NGX_HTTP_POSTMARK_RAW_KEY_MAX];
    size_t                           i, nsub, kept, sep_len, klen;
    size_t                           sub[NGX_HTTP_POSTMARK_PATHS_MAX];
    const char                      *start, *member, *value, *after, *sep;
    ngx_http_postmark_json_t        *j;
    const ngx_http_postmark_path_t  *path;

    j = &s->json;

    start = (const char *) j->p++;
    ngx_http_postmark_json_blank(j);

    if (ngx_http_postmark_emit(s, start, (const char *) j->p - start) != 0
        || j->p == j->end)
    {
        return -1;
    }

    if (*j->p == '}') {
        j->p++;
        return ngx_http_postmark_emit(s, "}", 1);
    }

    kept = 0;
    sep = NULL;
    sep_len = 0;

    for ( ;; ) {

        member = (const char *) j->p;

        if (ngx_http_postmark_json_string(j, &escaped) != 0) {
            return -1;
        }

        /*
         * a name longer than any path's is kept without decoding it;
         * parsers that keep names as C strings read a name only up to an
         * escaped NUL, and what they would read as a removed member is
         * removed
         */

        klen = (const char *) j->p - member - 2;

        if (escaped) {
            klen = ngx_http_postmark_json_cut(member + 1, klen);
        }

        if (klen > NGX_HTTP_POSTMARK_RAW_KEY_MAX) {
            klen = NGX_HTTP_POSTMARK_KEY_MAX + 1;

        } else if (escaped) {
            klen = ngx_http_postmark_json_unescape(member + 1, klen, key,
                                                   &nul);

        } else {
            memcpy(key, member + 1, klen);
        }

        ngx_http_postmark_json_blank(j);

        if (j->p == j->end || *j->p != ':') {
            return -1;
        }

        j->p++;
        ngx_http_postmark_json_blank(j);

        value = (const char *) j->p;
        remove = 0;
        nsub = 0;

        for (i = 0; klen <= NGX_HTTP_POSTMARK_KEY_MAX && i < nactive; i++) {
            path = &paths[active[i]];

            if (path->len[depth] != klen
                || memcmp(path->segment[depth], key, klen) != 0)
            {
                continue;
            }

            if (path->n == depth + 1) {
                remove = 1;

            } else {
                sub[nsub++] = active[i];
            }
        }

        if (remove) {
            if (ngx_http_postmark_json_value(j) != 0) {
                return -1;
            }

        } else {
            if ((kept && ngx_http_postmark_emit(s, sep, sep_len) != 0)
                || ngx_http_postmark_emit(s, member, value - member) != 0)
            {
                return -1;
            }

            if (nsub && value < (const char *) j->end && *value == '{') {
                if (ngx_http_postmark_trim_object(s, paths, sub, nsub,
                                                  depth + 1)
                    != 0)
                {
                    return -1;
                }

            } else if (ngx_http_postmark_json_value(j) != 0
                       || ngx_http_postmark_emit(s, value,
                                                 (const char *) j->p - value)
                          != 0)
            {
                return -1;
            }

            kept++;
        }

        after = (const char *) j->p;
        ngx_http_postmark_json_blank(j);

        if (j->p == j->end) {
            return -1;
        }

        if (*j->p == '}') {
            j->p++;
            return ngx_http_postmark_emit(s, after,
                                          (const char *) j->p - after);
        }

        if (*j->p != ',') {
            return -1;
        }

        j->p++;
        ngx_http_postmark_json_blank(j);

        if (!remove) {
            sep = after;
            sep_len = (const char *) j->p - after;
        }
    }
}


static int
ngx_http_postmark_emit(ngx_http_postmark_scan_t *s, const char *data,
    size_t len)
{
    if ((size_t) (s->last - s->out) < len) {
        return -1;
    }

    memcpy(s->out, data, len);
    s->out += len;

    return 0;
}
