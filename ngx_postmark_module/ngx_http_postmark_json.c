
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_postmark_json.h"


#define NGX_HTTP_POSTMARK_STACK  64


static int ngx_http_postmark_json_push(ngx_http_postmark_json_t *j,
    unsigned char **stack, size_t *cap, size_t *depth, unsigned char *local,
    unsigned char type);
static uint64_t ngx_http_postmark_json_special(const unsigned char *p);
static size_t ngx_http_postmark_json_first(uint64_t flags);
static int ngx_http_postmark_json_utf8(ngx_http_postmark_json_t *j);
static int ngx_http_postmark_json_number(ngx_http_postmark_json_t *j);
static int ngx_http_postmark_json_literal(ngx_http_postmark_json_t *j,
    const char *word, size_t len);
static int ngx_http_postmark_json_hex4(const unsigned char *p,
    unsigned int *cp);
static char *ngx_http_postmark_json_utf8_write(char *out, unsigned int cp);


void
ngx_http_postmark_json_init(ngx_http_postmark_json_t *j, const char *text,
    size_t len, size_t depth_max)
{
    j->start = (const unsigned char *) text;
    j->p = j->start;
    j->end = j->start + len;
    j->depth_max = depth_max;
    j->too_deep = 0;
}


/*
 * Which of eight bytes are not plain string text (a control byte, a
 * quote, a backslash, above ASCII), as their high bits.  A byte below
 * 0x80 gets its high bit from a subtraction only when it is below 0x20,
 * or is the quote or the backslash once xored with it; one above is
 * flagged by its own high bit and causes no borrow.  A borrow comes from
 * a flagged byte only, so flags err only in bytes above one rightly
 * flagged, and the lowest flag is the first byte to look at.
 */

#define ngx_http_postmark_json_ones   0x0101010101010101ULL
#define ngx_http_postmark_json_highs  0x8080808080808080ULL

static uint64_t
ngx_http_postmark_json_special(const unsigned char *p)
{
    uint64_t  w;

    memcpy(&w, p, 8);

    return (w
            | (w - ngx_http_postmark_json_ones * 0x20)
            | ((w ^ (ngx_http_postmark_json_ones * '"'))
               - ngx_http_postmark_json_ones)
            | ((w ^ (ngx_http_postmark_json_ones * '\\'))
               - ngx_http_postmark_json_ones))
           & ngx_http_postmark_json_highs;
}


/*
 * How many bytes come before the first flagged one: on little endian the
 * lowest flag; elsewhere none is skipped, and the bytes are looked at one
 * by one.
 */

static size_t
ngx_http_postmark_json_first(uint64_t flags)
{
#if (defined __GNUC__ && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    return __builtin_ctzll(flags) >> 3;
#else
    (void) flags;
    return 0;
#endif
}


/*
 * A string, from its opening quote to past the closing one; "escaped" is
 * set when it has escapes.  On error, j->p is at the offending byte.
 */

int
ngx_http_postmark_json_string(ngx_http_postmark_json_t *j, int *escaped)
{
    uint64_t        flags;
    unsigned int    cp;
    unsigned char   c;

    *escaped = 0;

    if (j->p == j->end || *j->p != '"') {
        return -1;
    }

    j->p++;

    for ( ;; ) {

        /*
         * most bytes are plain ASCII: eight at a time to the first that
         * is not, then the last few one by one
         */

        while (j->end - j->p >= 8) {
            flags = ngx_http_postmark_json_special(j->p);

            if (flags) {
                j->p += ngx_http_postmark_json_first(flags);
                break;
            }

            j->p += 8;
        }

        while (j->p < j->end && *j->p >= 0x20 && *j->p < 0x80
               && *j->p != '"' && *j->p != '\\')
        {
            j->p++;
        }

        if (j->p == j->end) {
            return -1;
        }

        c = *j->p;

        if (c == '"') {
            j->p++;
            return 0;
        }

        if (c < 0x20) {
            return -1;
        }

        if (c >= 0x80) {
            if (ngx_http_postmark_json_utf8(j) != 0) {
                return -1;
            }

            continue;
        }

        /* an escape */

        *escaped = 1;

        if (j->end - j->p < 2) {
            return -1;
        }

        switch (j->p[1]) {

        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            j->p += 2;
            continue;

        case 'u':
            if (j->end - j->p < 6
                || ngx_http_postmark_json_hex4(j->p + 2, &cp) != 0)
            {
                return -1;
            }

            j->p += 6;
            continue;

        default:
            return -1;
        }
    }
}


/* one UTF-8 sequence, as RFC 3629 allows: no overlongs, no surrogates */

static int
ngx_http_postmark_json_utf8(ngx_http_postmark_json_t *j)
{
    size_t          n, i;
    unsigned char   c, lo, hi;

    c = j->p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        lo = (c == 0xe0) ? 0xa0 : 0x80;
        hi = (c == 0xed) ? 0x9f : 0xbf;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        lo = (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xf4) ? 0x8f : 0xbf;

    } else {
        return -1;
    }

    if ((size_t) (j->end - j->p) <= n) {
        return -1;
    }

    for (i = 1; i <= n; i++) {
        c = j->p[i];

        if (c < lo || c > hi) {
            j->p += i;
            return -1;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    j->p += n + 1;

    return 0;
}


/*
 * Any value, skipped whole: nesting is counted on a stack of its own,
 * never recursed into, so depth costs memory, not the C stack.
 */

int
ngx_http_postmark_json_value(ngx_http_postmark_json_t *j)
{
    int             rc, escaped;
    size_t          depth, cap;
    unsigned char  *stack, local[NGX_HTTP_POSTMARK_STACK];

    stack = local;
    cap = NGX_HTTP_POSTMARK_STACK;
    depth = 0;
    rc = -1;
    j->too_deep = 0;

value:

    ngx_http_postmark_json_blank(j);

    if (j->p == j->end) {
        goto done;
    }

    switch (*j->p) {

    case '{':
        if (ngx_http_postmark_json_push(j, &stack, &cap, &depth, local, '{')
            != 0)
        {
            goto done;
        }

        j->p++;
        ngx_http_postmark_json_blank(j);

        if (j->p < j->end && *j->p == '}') {
            j->p++;
            depth--;
            goto close;
        }

        goto key;

    case '[':
        if (ngx_http_postmark_json_push(j, &stack, &cap, &depth, local, '[')
            != 0)
        {
            goto done;
        }

        j->p++;
        ngx_http_postmark_json_blank(j);

        if (j->p < j->end && *j->p == ']') {
            j->p++;
            depth--;
            goto close;
        }

        goto value;

    case '"':
        if (ngx_http_postmark_json_string(j, &escaped) != 0) {
            goto done;
        }

        goto close;

    case 't':
        if (ngx_http_postmark_json_literal(j, "true", 4) != 0) {
            goto done;
        }

        goto close;

    case 'f':
        if (ngx_http_postmark_json_literal(j, "false", 5) != 0) {
            goto done;
        }

        goto close;

    case 'n':
        if (ngx_http_postmark_json_literal(j, "null", 4) != 0) {
            goto done;
        }

        goto close;

    default:
        if (ngx_http_postmark_json_number(j) != 0) {
            goto done;
        }

        goto close;
    }

key:

    if (ngx_http_postmark_json_string(j, &escaped) != 0) {
        goto done;
    }

    ngx_http_postmark_json_blank(j);

    if (j->p == j->end || *j->p != ':') {
        goto done;
    }

    j->p++;

    goto value;

close:

    if (depth == 0) {
        rc = 0;
        goto done;
    }

    ngx_http_postmark_json_blank(j);

    if (j->p == j->end) {
        goto done;
    }

    if (*j->p == ',') {
        j->p++;
        ngx_http_postmark_json_blank(j);

        if (stack[depth - 1] == '{') {
            goto key;
        }

        goto value;
    }

    if (*j->p == (stack[depth - 1] == '{' ? '}' : ']')) {
        j->p++;
        depth--;
        goto close;
    }

done:

    if (stack != local) {
        free(stack);
    }

    return rc;
}


static int
ngx_http_postmark_json_push(ngx_http_postmark_json_t *j,
    unsigned char **stack, size_t *cap, size_t *depth, unsigned char *local,
    unsigned char type)
{
    unsigned char  *more;

    if (j->depth_max && *depth >= j->depth_max) {
        j->too_deep = 1;
        return -1;
    }

    if (*depth == *cap) {
        more = malloc(2 * *cap);
        if (more == NULL) {
            return -1;
        }

        memcpy(more, *stack, *cap);

        if (*stack != local) {
            free(*stack);
        }

        *stack = more;
        *cap *= 2;
    }

    (*stack)[(*depth)++] = type;

    return 0;
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

static int
ngx_http_postmark_json_number(ngx_http_postmark_json_t *j)
{
    const unsigned char  *digits;

    if (j->p < j->end && *j->p == '-') {
        j->p++;
    }

    if (j->p == j->end || *j->p < '0' || *j->p > '9') {
        return -1;
    }

    if (*j->p++ != '0') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }
    }

    if (j->p < j->end && *j->p == '.') {
        digits = ++j->p;

        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }

        if (j->p == digits) {
            return -1;
        }
    }

    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;

        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }

        digits = j->p;

        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }

        if (j->p == digits) {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_postmark_json_literal(ngx_http_postmark_json_t *j, const char *word,
    size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (j->p == j->end || *j->p != (unsigned char) word[i]) {
            return -1;
        }

        j->p++;
    }

    return 0;
}


static int
ngx_http_postmark_json_hex4(const unsigned char *p, unsigned int *cp)
{
    int            n;
    unsigned char  c;

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


/*
 * The text of a string that ngx_http_postmark_json_string() accepted,
 * without its quotes, decoded into "out", which has room for "len" bytes:
 * no escape decodes longer than it is written.  A lone surrogate becomes
 * U+FFFD; "nul" is set when "\u0000" was decoded.  Returns the length.
 */

size_t
ngx_http_postmark_json_unescape(const char *raw, size_t len, char *out,
    int *nul)
{
    char          *o;
    size_t         i;
    unsigned int   cp, lo;

    o = out;
    *nul = 0;

    for (i = 0; i < len; /* void */ ) {

        if (raw[i] != '\\') {
            *o++ = raw[i++];
            continue;
        }

        switch (raw[i + 1]) {

        case 'b':
            *o++ = '\b';
            break;

        case 'f':
            *o++ = '\f';
            break;

        case 'n':
            *o++ = '\n';
            break;

        case 'r':
            *o++ = '\r';
            break;

        case 't':
            *o++ = '\t';
            break;

        case 'u':
            (void) ngx_http_postmark_json_hex4((const unsigned char *) raw
                                               + i + 2, &cp);
            i += 6;

            if (cp >= 0xd800 && cp <= 0xdbff && len - i >= 6
                && raw[i] == '\\' && raw[i + 1] == 'u'
                && ngx_http_postmark_json_hex4((const unsigned char *) raw
                                               + i + 2, &lo) == 0
                && lo >= 0xdc00 && lo <= 0xdfff)
            {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;

            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;
            }

            if (cp == 0) {
                *nul = 1;
            }

            o = ngx_http_postmark_json_utf8_write(o, cp);
            continue;

        default:        /* '"', '\\' and '/' */
            *o++ = raw[i + 1];
            break;
        }

        i += 2;
    }

    return o - out;
}


/*
 * Where parsers that keep strings as C strings cut the text of an
 * accepted string: at its first "\u0000".  Returns that offset in "raw",
 * or "len" when there is none.
 */

size_t
ngx_http_postmark_json_cut(const char *raw, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (raw[i] != '\\') {
            continue;
        }

        if (raw[i + 1] == 'u' && memcmp(raw + i + 2, "0000", 4) == 0) {
            return i;
        }

        i += (raw[i + 1] == 'u') ? 5 : 1;
    }

    return len;
}


static char *
ngx_http_postmark_json_utf8_write(char *out, unsigned int cp)
{
    if (cp < 0x80) {
        *out++ = (char) cp;

    } else if (cp < 0x800) {
        *out++ = (char) (0xc0 | (cp >> 6));
        *out++ = (char) (0x80 | (cp & 0x3f));

    } else if (cp < 0x10000) {
        *out++ = (char) (0xe0 | (cp >> 12));
        *out++ = (char) (0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char) (0x80 | (cp & 0x3f));

    } else {
        *out++ = (char) (0xf0 | (cp >> 18));
        *out++ = (char) (0x80 | ((cp >> 12) & 0x3f));
        *out++ = (char) (0x80 | ((cp >> 6) & 0x3f));
        *out++ = (char) (0x80 | (cp & 0x3f));
    }

    return out;
}
