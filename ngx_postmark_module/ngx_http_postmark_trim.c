
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <string.h>

#include "ngx_http_postmark_trim.h"


#define NGX_HTTP_POSTMARK_KEY_MAX  255


typedef struct {
    const char  *p;
    const char  *end;
    char        *out;
    char        *last;
} ngx_http_postmark_scan_t;


static int ngx_http_postmark_trim_object(ngx_http_postmark_scan_t *s,
    const ngx_http_postmark_path_t *paths, const size_t *active,
    size_t nactive, size_t depth);
static void ngx_http_postmark_blank(ngx_http_postmark_scan_t *s);
static int ngx_http_postmark_string(ngx_http_postmark_scan_t *s);
static int ngx_http_postmark_value(ngx_http_postmark_scan_t *s);
static long ngx_http_postmark_key(const char *raw, size_t len, char *key);
static int ngx_http_postmark_hex4(const char *p, unsigned int *cp);
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
 * when "in" is not one JSON object (as cJSON reads them: bytes up to the
 * space are blanks, and a UTF-8 byte order mark may lead).
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

    s.p = in;
    s.end = in + len;
    s.out = out;
    s.last = out + len;

    if (len >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0) {
        s.p += 3;
    }

    ngx_http_postmark_blank(&s);

    if (ngx_http_postmark_emit(&s, in, s.p - in) != 0
        || s.p == s.end || *s.p != '{'
        || ngx_http_postmark_trim_object(&s, paths, active, npaths, 0) != 0)
    {
        return -1;
    }

    start = s.p;
    ngx_http_postmark_blank(&s);

    if (s.p != s.end || ngx_http_postmark_emit(&s, start, s.p - start) != 0) {
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
    int                              remove;
    char                             key[NGX_HTTP_POSTMARK_KEY_MAX + 4];
    long                             klen;
    size_t                           i, nsub, kept, sep_len;
    size_t                           sub[NGX_HTTP_POSTMARK_PATHS_MAX];
    const char                      *start, *member, *value, *after, *sep;
    const ngx_http_postmark_path_t  *path;

    start = s->p++;
    ngx_http_postmark_blank(s);

    if (ngx_http_postmark_emit(s, start, s->p - start) != 0
        || s->p == s->end)
    {
        return -1;
    }

    if (*s->p == '}') {
        s->p++;
        return ngx_http_postmark_emit(s, "}", 1);
    }

    kept = 0;
    sep = NULL;
    sep_len = 0;

    for ( ;; ) {

        if (s->p == s->end || *s->p != '"') {
            return -1;
        }

        member = s->p;

        if (ngx_http_postmark_string(s) != 0) {
            return -1;
        }

        klen = ngx_http_postmark_key(member + 1, s->p - member - 2, key);

        ngx_http_postmark_blank(s);

        if (s->p == s->end || *s->p != ':') {
            return -1;
        }

        s->p++;
        ngx_http_postmark_blank(s);

        value = s->p;
        remove = 0;
        nsub = 0;

        for (i = 0; klen >= 0 && i < nactive; i++) {
            path = &paths[active[i]];

            if (path->len[depth] != (size_t) klen
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
            if (ngx_http_postmark_value(s) != 0) {
                return -1;
            }

        } else {
            if ((kept && ngx_http_postmark_emit(s, sep, sep_len) != 0)
                || ngx_http_postmark_emit(s, member, value - member) != 0)
            {
                return -1;
            }

            if (nsub && value < s->end && *value == '{') {
                if (ngx_http_postmark_trim_object(s, paths, sub, nsub,
                                                  depth + 1)
                    != 0)
                {
                    return -1;
                }

            } else if (ngx_http_postmark_value(s) != 0
                       || ngx_http_postmark_emit(s, value, s->p - value) != 0)
            {
                return -1;
            }

            kept++;
        }

        after = s->p;
        ngx_http_postmark_blank(s);

        if (s->p == s->end) {
            return -1;
        }

        if (*s->p == '}') {
            s->p++;
            return ngx_http_postmark_emit(s, after, s->p - after);
        }

        if (*s->p != ',') {
            return -1;
        }

        s->p++;
        ngx_http_postmark_blank(s);

        if (!remove) {
            sep = after;
            sep_len = s->p - after;
        }
    }
}


/* cJSON takes every byte up to the space for a blank */

static void
ngx_http_postmark_blank(ngx_http_postmark_scan_t *s)
{
    while (s->p < s->end && (unsigned char) *s->p <= 0x20) {
        s->p++;
    }
}


static int
ngx_http_postmark_string(ngx_http_postmark_scan_t *s)
{
    for (s->p++; s->p < s->end; s->p++) {

        if (*s->p == '\\') {
            if (s->end - s->p < 2) {
                return -1;
            }

            s->p++;
            continue;
        }

        if (*s->p == '"') {
            s->p++;
            return 0;
        }
    }

    return -1;
}


/* a value skipped whole: nesting is counted, never recursed into */

static int
ngx_http_postmark_value(ngx_http_postmark_scan_t *s)
{
    char         c;
    size_t       depth;
    const char  *start;

    if (s->p == s->end) {
        return -1;
    }

    c = *s->p;

    if (c == '"') {
        return ngx_http_postmark_string(s);
    }

    if (c == '{' || c == '[') {
        depth = 0;

        do {
            if (s->p == s->end) {
                return -1;
            }

            c = *s->p;

            if (c == '"') {
                if (ngx_http_postmark_string(s) != 0) {
                    return -1;
                }

                continue;
            }

            if (c == '{' || c == '[') {
                depth++;

            } else if (c == '}' || c == ']') {
                depth--;
            }

            s->p++;

        } while (depth);

        return 0;
    }

    /* a number, true, false or null runs to the next delimiter */

    start = s->p;

    while (s->p < s->end && (unsigned char) *s->p > 0x20
           && *s->p != ',' && *s->p != '}' && *s->p != ']' && *s->p != '"'
           && *s->p != ':' && *s->p != '{' && *s->p != '[')
    {
        s->p++;
    }

    return s->p > start ? 0 : -1;
}


/*
 * A key's text, escapes decoded, for comparing with path names; -1 when
 * it is longer than any name could be or has an invalid escape.
 */

static long
ngx_http_postmark_key(const char *raw, size_t len, char *key)
{
    char          *k;
    size_t         i;
    unsigned int   cp, lo;

    k = key;

    for (i = 0; i < len; i++) {

        /* at most 4 bytes are written at a time: "key" has room for them */

        if (k - key > NGX_HTTP_POSTMARK_KEY_MAX) {
            return -1;
        }

        if (raw[i] != '\\') {
            *k++ = raw[i];
            continue;
        }

        if (++i == len) {
            return -1;
        }

        switch (raw[i]) {

        case '"':
        case '\\':
        case '/':
            *k++ = raw[i];
            continue;

        case 'b':
            *k++ = '\b';
            continue;

        case 'f':
            *k++ = '\f';
            continue;

        case 'n':
            *k++ = '\n';
            continue;

        case 'r':
            *k++ = '\r';
            continue;

        case 't':
            *k++ = '\t';
            continue;

        case 'u':
            break;

        default:
            return -1;
        }

        /* \uXXXX, and a surrogate pair as one code point */

        if (len - i < 5 || ngx_http_postmark_hex4(raw + i + 1, &cp) != 0) {
            return -1;
        }

        i += 4;

        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (len - i < 7 || raw[i + 1] != '\\' || raw[i + 2] != 'u'
                || ngx_http_postmark_hex4(raw + i + 3, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return -1;
            }

            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;

        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return -1;
        }

        if (cp < 0x80) {
            *k++ = (char) cp;

        } else if (cp < 0x800) {
            *k++ = (char) (0xc0 | (cp >> 6));
            *k++ = (char) (0x80 | (cp & 0x3f));

        } else if (cp < 0x10000) {
            *k++ = (char) (0xe0 | (cp >> 12));
            *k++ = (char) (0x80 | ((cp >> 6) & 0x3f));
            *k++ = (char) (0x80 | (cp & 0x3f));

        } else {
            *k++ = (char) (0xf0 | (cp >> 18));
            *k++ = (char) (0x80 | ((cp >> 12) & 0x3f));
            *k++ = (char) (0x80 | ((cp >> 6) & 0x3f));
            *k++ = (char) (0x80 | (cp & 0x3f));
        }
    }

    return k - key;
}


static int
ngx_http_postmark_hex4(const char *p, unsigned int *cp)
{
    int   n;
    char  c;

    *cp = 0;

    for (n = 0; n < 4; n++) {
        c = p[n];
        *cp <<= 4;

        if (c >= '0' && c <= '9') {
            *cp |= c - '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            *cp |= (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }
    }

    return 0;
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
