
/*
 * Copyright (C) ngx_postmark_module authors
 */



/*
 * The values of a portal's call: each query value checked for its kind
 * (counts, dates, booleans, enums, UUIDs) and escaped again as it is to be
 * sent, each item of a path for its shape; and the refusals that say why.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_postmark_endpoint.h"


static int ngx_http_postmark_unescape(const char *raw, size_t len, char *out,
    size_t *out_len);
static int ngx_http_postmark_is_id(const char *s, size_t len);
static int ngx_http_postmark_is_name(const char *s, size_t len, size_t max,
    const char *punct);

#define ngx_http_postmark_is_alias(s, len)                                  \
    ngx_http_postmark_is_name(s, len, NGX_HTTP_POSTMARK_ALIAS_MAX, ".-_")
#define ngx_http_postmark_is_stream(s, len)                                 \
    ngx_http_postmark_is_name(s, len, 30, "-_")

static int ngx_http_postmark_is_uuid(const char *s, size_t len);
static int ngx_http_postmark_date(const char *s, size_t len, char *out);
static int ngx_http_postmark_days(int year, int month);
static int ngx_http_postmark_number(const char *s, size_t len, size_t max,
    long *value);


/* a value checked for its kind, written to "out" as it is to be sent */

int
ngx_http_postmark_query_value(const ngx_http_postmark_param_t *p,
    const char *raw, size_t len, char *out, long *number,
    ngx_http_postmark_route_t *rt, int code)
{
    int             status;
    char            text[NGX_HTTP_POSTMARK_VALUE_MAX + 1];
    size_t          n, i;
    unsigned char   c;

    static const char  hex[] = "0123456789ABCDEF";

    if (ngx_http_postmark_unescape(raw, len, text, &n) != 0) {
        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                 "query parameter \"%s\" is not valid text "
                                 "of up to %d bytes", p->name,
                                 NGX_HTTP_POSTMARK_VALUE_MAX);
        return -1;
    }

    code = code ? code : NGX_HTTP_POSTMARK_E_QUERY;
    status = ngx_http_postmark_bad(code);

    switch (p->kind) {

    case NGX_HTTP_POSTMARK_Q_COUNT:
        if (!ngx_http_postmark_number(text, n, 3, number) || *number > 500) {
            ngx_http_postmark_refuse(rt, status, code,
                                     "%s must be a number from 1 to 500",
                                     p->name);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_OFFSET:
    case NGX_HTTP_POSTMARK_Q_TOFFSET:
        *number = 0;

        if ((n != 1 || text[0] != '0')
            && (!ngx_http_postmark_number(text, n, 6, number)
                || (p->kind == NGX_HTTP_POSTMARK_Q_OFFSET
                    && *number > NGX_HTTP_POSTMARK_WINDOW)))
        {
            ngx_http_postmark_refuse(rt, status, code,
                                     "%s must be a number from 0 to %d",
                                     p->name,
                                     p->kind == NGX_HTTP_POSTMARK_Q_OFFSET
                                     ? NGX_HTTP_POSTMARK_WINDOW : 999999);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_DATE:
        if (ngx_http_postmark_date(text, n, out) != 0) {
            ngx_http_postmark_refuse(rt, status, code, "%s must be a date, "
                                     "such as 2026-11-30, or a date and "
                                     "time, such as 2026-11-30T12:00:00",
                                     p->name);
            return -1;
        }

        return 0;

    case NGX_HTTP_POSTMARK_Q_BOOL:
        if ((n == 4 && strncasecmp(text, "true", 4) == 0)
            || (n == 1 && text[0] == '1'))
        {
            strcpy(out, "true");
            return 0;
        }

        if ((n == 5 && strncasecmp(text, "false", 5) == 0)
            || (n == 1 && text[0] == '0'))
        {
            strcpy(out, "false");
            return 0;
        }

        ngx_http_postmark_refuse(rt, status, code, "%s must be true or false",
                                 p->name);
        return -1;

    case NGX_HTTP_POSTMARK_Q_ENUM:
        for (i = 0; p->values[i]; i++) {
            if (strlen(p->values[i]) == n
                && strncasecmp(p->values[i], text, n) == 0)
            {
                strcpy(out, p->values[i]);
                return 0;
            }
        }

        ngx_http_postmark_refuse(rt, status, code, "%s has an invalid value",
                                 p->name);
        return -1;

    case NGX_HTTP_POSTMARK_Q_STREAM:
        if (!ngx_http_postmark_is_stream(text, n)) {
            ngx_http_postmark_refuse(rt, status, code, "%s must be a "
                                     "message stream's id", p->name);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_UUID:
        if (!ngx_http_postmark_is_uuid(text, n)) {
            ngx_http_postmark_refuse(rt, status, code, "%s must be a "
                                     "message's id", p->name);
            return -1;
        }

        break;

    case NGX_HTTP_POSTMARK_Q_ALIAS:
        if (!ngx_http_postmark_is_alias(text, n)) {
            ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                     "%s must be a template alias", p->name);
            return -1;
        }

        break;

    default: /* NGX_HTTP_POSTMARK_Q_TEXT */
        break;
    }

    /* every byte but the unreserved ones goes escaped */

    for (i = 0; i < n; i++) {
        c = (unsigned char) text[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            *out++ = (char) c;
            continue;
        }

        *out++ = '%';
        *out++ = hex[c >> 4];
        *out++ = hex[c & 0xf];
    }

    *out = '\0';

    return 0;
}


/*
 * A query value decoded: "%XX" and "+" for a space, as forms and the
 * SDKs encode them; what comes out must be UTF-8 without control bytes.
 */

static int
ngx_http_postmark_unescape(const char *raw, size_t len, char *out,
    size_t *out_len)
{
    int             h, l;
    size_t          i, n, more;
    unsigned char   c;

    for (i = 0, n = 0; i < len; i++) {

        if (n == NGX_HTTP_POSTMARK_VALUE_MAX) {
            return -1;
        }

        c = (unsigned char) raw[i];

        if (c == '+') {
            c = ' ';

        } else if (c == '%') {
            if (len - i < 3) {
                return -1;
            }

            h = raw[i + 1];
            l = raw[i + 2];

            h = (h >= '0' && h <= '9') ? h - '0'
                : ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
                  ? (h | 0x20) - 'a' + 10 : -1;
            l = (l >= '0' && l <= '9') ? l - '0'
                : ((l | 0x20) >= 'a' && (l | 0x20) <= 'f')
                  ? (l | 0x20) - 'a' + 10 : -1;

            if (h < 0 || l < 0) {
                return -1;
            }

            c = (unsigned char) (h << 4 | l);
            i += 2;
        }

        if (c < 0x20 || c == 0x7f) {
            return -1;
        }

        out[n++] = (char) c;
    }

    out[n] = '\0';
    *out_len = n;

    /* UTF-8, as RFC 3629 allows it */

    for (i = 0; i < n; i += more + 1) {
        c = (unsigned char) out[i];

        more = (c < 0x80) ? 0 : (c >= 0xc2 && c <= 0xdf) ? 1
               : (c >= 0xe0 && c <= 0xef) ? 2 : (c >= 0xf0 && c <= 0xf4) ? 3
               : 4;

        if (more == 4 || n - i <= more) {
            return -1;
        }

        for (l = 1; (size_t) l <= more; l++) {
            c = (unsigned char) out[i + l];

            if (c < 0x80 || c > 0xbf
                || (l == 1 && (unsigned char) out[i] == 0xe0 && c < 0xa0)
                || (l == 1 && (unsigned char) out[i] == 0xed && c > 0x9f)
                || (l == 1 && (unsigned char) out[i] == 0xf0 && c < 0x90)
                || (l == 1 && (unsigned char) out[i] == 0xf4 && c > 0x8f))
            {
                return -1;
            }
        }
    }

    return 0;
}


int
ngx_http_postmark_is_item(ngx_http_postmark_item_e item, const char *s,
    size_t len)
{
    switch (item) {

    case NGX_HTTP_POSTMARK_I_TEMPLATE:
        return ngx_http_postmark_is_id(s, len)
               || ngx_http_postmark_is_alias(s, len);

    case NGX_HTTP_POSTMARK_I_MESSAGE:
        return ngx_http_postmark_is_uuid(s, len);

    case NGX_HTTP_POSTMARK_I_BOUNCE:
        return ngx_http_postmark_is_id(s, len);

    case NGX_HTTP_POSTMARK_I_STREAM:
        return ngx_http_postmark_is_stream(s, len);

    default:
        return 1;
    }
}


/* a 64-bit id: up to 9223372036854775807, without a leading zero */

static int
ngx_http_postmark_is_id(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > 19 || s[0] == '0') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return len < 19 || strncmp(s, "9223372036854775807", 19) <= 0;
}


/*
 * Postmark's names: a letter, then letters, digits and the punctuation
 * given; an alias may have ".", "-" and "_", a stream's id "-" and "_".
 */

static int
ngx_http_postmark_is_name(const char *s, size_t len, size_t max,
    const char *punct)
{
    char    c;
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (char) (s[i] | 0x20);

        if (!((c >= 'a' && c <= 'z')
              || (i > 0 && ((s[i] >= '0' && s[i] <= '9')
                            || (s[i] != '\0' && strchr(punct, s[i]))))))
        {
            return 0;
        }
    }

    return 1;
}


/* 8-4-4-4-12 hex digits */

static int
ngx_http_postmark_is_uuid(const char *s, size_t len)
{
    char    c;
    size_t  i;

    if (len != 36) {
        return 0;
    }

    for (i = 0; i < 36; i++) {
        c = s[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }

            continue;
        }

        if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a'
                                         && (c | 0x20) <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A date as Postmark reads one: YYYY-M-D, or with a time after "T" or a
 * space, h:mm, h:mm:ss or h:mm:ss.fraction, and a zone ("Z", "+01:00";
 * a "+" decoded as a space too).  It is written to "out" canonical,
 * zero-padded, "T" between date and time, and encoded for the query.
 */

static int
ngx_http_postmark_date(const char *s, size_t len, char *out)
{
    int          f[6];
    size_t       i, k, digits;
    const char  *end;

    /* year, month, day, hours, minutes, seconds */

    static const int     max[] = { 9999, 12, 31, 23, 59, 60 };
    static const size_t  least[] = { 4, 1, 1, 1, 2, 2 };
    static const size_t  most[] = { 4, 2, 2, 2, 2, 2 };
    static const char    sep[] = "--T::";

    end = s + len;

    for (i = 0; i < 6 && s < end; i++) {
        if (i > 0) {
            if (*s != sep[i - 1] && !(i == 3 && *s == ' ')) {
                break;
            }

            s++;
        }

        for (f[i] = 0, digits = 0; s < end && *s >= '0' && *s <= '9';
             s++, digits++)
        {
            if (digits == most[i]) {
                return -1;
            }

            f[i] = f[i] * 10 + (*s - '0');
        }

        if (digits < least[i] || f[i] > max[i]
            || ((i == 1 || i == 2) && f[i] == 0))
        {
            return -1;
        }
    }

    /* a date, or a date with at least hours and minutes */

    if (i < 3 || i == 4) {
        return -1;
    }

    /*
     * a day the month has: Postmark refuses what is not a date ("A
     * parameter should be a date/time value"), and 2026-02-31 is none
     */

    if (f[2] > ngx_http_postmark_days(f[0], f[1])) {
        return -1;
    }

    out += sprintf(out, "%04d-%02d-%02d", f[0], f[1], f[2]);

    if (i == 3) {
        return s == end ? 0 : -1;
    }

    out += sprintf(out, "T%02d%%3A%02d", f[3], f[4]);

    if (i == 6) {
        out += sprintf(out, "%%3A%02d", f[5]);

        if (s < end && *s == '.') {
            *out++ = '.';

            for (s++, k = 0; s < end && *s >= '0' && *s <= '9'; s++, k++) {
                *out++ = *s;
            }

            if (k == 0 || k > 9) {
                return -1;
            }
        }
    }

    if (s + 1 == end && *s == 'Z') {
        strcpy(out, "Z");
        return 0;
    }

    if (s + 6 == end && (*s == '+' || *s == '-' || *s == ' ')
        && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
        && s[3] == ':' && s[4] >= '0' && s[4] <= '9'
        && s[5] >= '0' && s[5] <= '9')
    {
        sprintf(out, "%s%c%c%%3A%c%c", (*s == '-') ? "-" : "%2B",
                s[1], s[2], s[4], s[5]);
        return 0;
    }

    *out = '\0';

    return s == end ? 0 : -1;
}


/* the days of a month, with the Gregorian calendar's leap years */

static int
ngx_http_postmark_days(int year, int month)
{
    static const int  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) {
        return 29;
    }

    return days[month - 1];
}


/* a positive number of at most "max" digits, without leading zeros */

static int
ngx_http_postmark_number(const char *s, size_t len, size_t max, long *value)
{
    size_t  i;

    if (len == 0 || len > max || s[0] == '0') {
        return 0;
    }

    *value = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }

        *value = *value * 10 + (s[i] - '0');
    }

    return 1;
}


/* appends to the target; a target that would not fit is refused */

int
ngx_http_postmark_append(ngx_http_postmark_route_t *rt, size_t *n,
    const char *fmt, ...)
{
    int      len;
    va_list  args;

    va_start(args, fmt);
    len = vsnprintf(rt->target + *n, sizeof(rt->target) - *n, fmt, args);
    va_end(args);

    if (len < 0 || (size_t) len >= sizeof(rt->target) - *n) {
        ngx_http_postmark_refuse(rt, 400, NGX_HTTP_POSTMARK_E_QUERY,
                                 "the query is too long");
        return -1;
    }

    *n += len;

    return 0;
}


void
ngx_http_postmark_refuse(ngx_http_postmark_route_t *rt, int status, int code,
    const char *fmt, ...)
{
    va_list  args;

    /* a refusal carries nothing that could be sent */

    rt->status = status;
    rt->error_code = code;
    rt->op = NULL;
    rt->method = NGX_HTTP_POSTMARK_M_OTHER;
    rt->body = 0;
    rt->template = 0;
    rt->allow = (status == 405) ? rt->allow : NULL;
    rt->target[0] = '\0';
    rt->name[0] = '\0';

    va_start(args, fmt);
    vsnprintf(rt->message, sizeof(rt->message), fmt, args);
    va_end(args);
}
