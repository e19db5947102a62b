
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <string.h>
#include <strings.h>

#include "ngx_http_postmark_answer.h"


enum {
    s_version = 0,
    s_minor,
    s_space,
    s_status,
    s_after_status,
    s_reason,
    s_status_lf,
    s_line,
    s_name,
    s_value_start,
    s_value,
    s_value_lf,
    s_head_lf,
    s_body,
    s_until_close,
    s_chunk_size,
    s_chunk_ext,
    s_chunk_size_lf,
    s_chunk_data,
    s_chunk_cr,
    s_chunk_lf,
    s_trailer_start,
    s_trailer,
    s_trailer_lf,
    s_done,
    s_error
};


static int ngx_http_postmark_answer_fail(ngx_http_postmark_answer_t *a,
    const char *error);
static int ngx_http_postmark_answer_header(ngx_http_postmark_answer_t *a);
static int ngx_http_postmark_answer_head(ngx_http_postmark_answer_t *a);
static int ngx_http_postmark_answer_token(const char *list, size_t len,
    const char *token);
static void ngx_http_postmark_answer_reset(ngx_http_postmark_answer_t *a);


#define ngx_http_postmark_answer_tchar(c)                                    \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')               \
     || ((c) >= '0' && (c) <= '9')                                         \
     || ((c) != '\0' && strchr("!#$%&'*+-.^_`|~", (c))))

#define ngx_http_postmark_answer_hex(c)                                      \
    (((c) >= '0' && (c) <= '9') ? (c) - '0'                                  \
     : ((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'f' ? ((c) | 0x20) - 'a' + 10 \
     : -1)


void
ngx_http_postmark_answer_init(ngx_http_postmark_answer_t *a)
{
    memset(a, 0, sizeof(ngx_http_postmark_answer_t));

    ngx_http_postmark_answer_reset(a);
}


/* what one head says: a 1xx head is followed by another */

static void
ngx_http_postmark_answer_reset(ngx_http_postmark_answer_t *a)
{
    a->state = s_version;
    a->status = 0;
    a->retry_after[0] = '\0';
    a->length = -1;
    a->digits = 0;
    a->chunked = 0;
    a->close = 0;
    a->alive = 0;
}


int
ngx_http_postmark_answer_parse(ngx_http_postmark_answer_t *a, const char *p,
    size_t len, size_t *used, ngx_http_postmark_answer_body_pt body,
    void *data)
{
    int             d;
    size_t          n;
    const char     *start, *end;
    unsigned char   c;

    start = p;
    end = p + len;
    *used = 0;      /* what an error leaves is of no use */

    while (p < end) {

        if (a->state == s_done || a->state == s_error) {
            break;
        }

        /* the body goes in runs, the rest byte by byte */

        if (a->state == s_body || a->state == s_chunk_data
            || a->state == s_until_close)
        {
            n = end - p;

            if (a->state != s_until_close && (long long) n > a->left) {
                n = (size_t) a->left;
            }

            if (body && n) {
                body(data, p, n);
            }

            p += n;

            if (a->state == s_until_close) {
                continue;
            }

            a->left -= n;

            if (a->left == 0) {
                a->state = (a->state == s_body) ? s_done : s_chunk_cr;
            }

            continue;
        }

        c = (unsigned char) *p++;

        if (a->state < s_body || a->state >= s_trailer_start) {
            if (++a->head > NGX_HTTP_POSTMARK_ANSWER_HEAD) {
                return ngx_http_postmark_answer_fail(a,
                           "the answer's head is too large");
            }
        }

        switch (a->state) {

        case s_version:
            if (c != (unsigned char) "HTTP/1."[a->digits]) {
                return ngx_http_postmark_answer_fail(a,
                           "not an HTTP/1.x answer");
            }

            if (++a->digits == 7) {
                a->state = s_minor;
            }

            break;

        case s_minor:
            if (c != '0' && c != '1') {
                return ngx_http_postmark_answer_fail(a,
                           "not an HTTP/1.x answer");
            }

            a->minor = (c == '1');
            a->state = s_space;
            break;

        case s_space:
            if (c != ' ') {
                return ngx_http_postmark_answer_fail(a,
                           "invalid status line");
            }

            a->digits = 0;
            a->state = s_status;
            break;

        case s_status:
            if (c < '0' || c > '9' || (a->digits == 0 && c == '0')) {
                return ngx_http_postmark_answer_fail(a,
                           "invalid status line");
            }

            a->status = a->status * 10 + (c - '0');

            if (++a->digits == 3) {
                a->state = s_after_status;
            }

            break;

        case s_after_status:
            if (c == ' ') {
                a->state = s_reason;

            } else if (c == '\r') {
                a->state = s_status_lf;

            } else if (c == '\n') {
                a->state = s_line;

            } else {
                return ngx_http_postmark_answer_fail(a,
                           "invalid status line");
            }

            break;

        case s_reason:
            if (c == '\r') {
                a->state = s_status_lf;

            } else if (c == '\n') {
                a->state = s_line;

            } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return ngx_http_postmark_answer_fail(a,
                           "invalid status line");
            }

            break;

        case s_status_lf:
        case s_value_lf:
        case s_head_lf:
            if (c != '\n') {
                return ngx_http_postmark_answer_fail(a,
                           "a CR without LF in the answer's head");
            }

            if (a->state == s_head_lf) {
                if (ngx_http_postmark_answer_head(a) != 0) {
                    return NGX_HTTP_POSTMARK_ANSWER_ERROR;
                }

                break;
            }

            if (a->state == s_value_lf
                && ngx_http_postmark_answer_header(a) != 0)
            {
                return NGX_HTTP_POSTMARK_ANSWER_ERROR;
            }

            a->state = s_line;
            break;

        case s_line:
            if (c == '\r') {
                a->state = s_head_lf;
                break;
            }

            if (c == '\n') {
                if (ngx_http_postmark_answer_head(a) != 0) {
                    return NGX_HTTP_POSTMARK_ANSWER_ERROR;
                }

                break;
            }

            if (c == ' ' || c == '\t') {
                return ngx_http_postmark_answer_fail(a,
                           "a folded header line");
            }

            if (!ngx_http_postmark_answer_tchar(c)) {
                return ngx_http_postmark_answer_fail(a,
                           "invalid header line");
            }

            a->name[0] = (char) c;
            a->name_len = 1;
            a->state = s_name;
            break;

        case s_name:
            if (c == ':') {
                a->value_len = 0;
                a->long_value = 0;
                a->state = s_value_start;
                break;
            }

            if (!ngx_http_postmark_answer_tchar(c)) {
                return ngx_http_postmark_answer_fail(a,
                           "invalid header line");
            }

            if (a->name_len < sizeof(a->name)) {
                a->name[a->name_len++] = (char) c;
            }

            break;

        case s_value_start:
            if (c == ' ' || c == '\t') {
                break;
            }

            a->state = s_value;

            /* fall through */

        case s_value:
            if (c == '\r') {
                a->state = s_value_lf;
                break;
            }

            if (c == '\n') {
                if (ngx_http_postmark_answer_header(a) != 0) {
                    return NGX_HTTP_POSTMARK_ANSWER_ERROR;
                }

                a->state = s_line;
                break;
            }

            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return ngx_http_postmark_answer_fail(a,
                           "invalid header line");
            }

            if (a->value_len < sizeof(a->value) - 1) {
                a->value[a->value_len++] = (char) c;

            } else {
                a->long_value = 1;
            }

            break;

        case s_chunk_size:
            d = ngx_http_postmark_answer_hex(c);

            if (d >= 0) {
                if (++a->digits > 15) {
                    return ngx_http_postmark_answer_fail(a,
                               "invalid chunk size");
                }

                a->left = a->left * 16 + d;
                break;
            }

            if (a->digits == 0) {
                return ngx_http_postmark_answer_fail(a,
                           "invalid chunk size");
            }

            if (c == '\r') {
                a->state = s_chunk_size_lf;

            } else if (c == '\n') {
                a->state = a->left ? s_chunk_data : s_trailer_start;

            } else if (c == ';' || c == ' ' || c == '\t') {
                a->state = s_chunk_ext;

            } else {
                return ngx_http_postmark_answer_fail(a,
                           "invalid chunk size");
            }

            break;

        case s_chunk_ext:
            if (c == '\r') {
                a->state = s_chunk_size_lf;

            } else if (c == '\n') {
                a->state = a->left ? s_chunk_data : s_trailer_start;

            } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return ngx_http_postmark_answer_fail(a,
                           "invalid chunk size");
            }

            break;

        case s_chunk_size_lf:
            if (c != '\n') {
                return ngx_http_postmark_answer_fail(a,
                           "invalid chunk size");
            }

            a->state = a->left ? s_chunk_data : s_trailer_start;
            break;

        case s_chunk_cr:
            if (c == '\r') {
                a->state = s_chunk_lf;
                break;
            }

            /* fall through */

        case s_chunk_lf:
            if (c != '\n') {
                return ngx_http_postmark_answer_fail(a,
                           "a chunk without its CRLF");
            }

            a->digits = 0;
            a->left = 0;
            a->state = s_chunk_size;
            break;

        case s_trailer_start:
            if (c == '\r') {
                a->state = s_trailer_lf;

            } else if (c == '\n') {
                a->state = s_done;

            } else {
                a->state = s_trailer;
            }

            break;

        case s_trailer:
            if (c == '\n') {
                a->state = s_trailer_start;
            }

            break;

        default: /* s_trailer_lf */
            if (c != '\n') {
                return ngx_http_postmark_answer_fail(a,
                           "a CR without LF in the answer's trailer");
            }

            a->state = s_done;
            break;
        }
    }

    *used = p - start;

    if (a->state == s_error) {
        return NGX_HTTP_POSTMARK_ANSWER_ERROR;
    }

    return (a->state == s_done) ? NGX_HTTP_POSTMARK_ANSWER_DONE
                                : NGX_HTTP_POSTMARK_ANSWER_AGAIN;
}


/* the peer closed the connection: only a body read until then ends so */

int
ngx_http_postmark_answer_eof(ngx_http_postmark_answer_t *a)
{
    switch (a->state) {

    case s_done:
        return NGX_HTTP_POSTMARK_ANSWER_DONE;

    case s_error:
        return NGX_HTTP_POSTMARK_ANSWER_ERROR;

    case s_until_close:
        a->state = s_done;
        return NGX_HTTP_POSTMARK_ANSWER_DONE;

    case s_body:
    case s_chunk_size:
    case s_chunk_ext:
    case s_chunk_size_lf:
    case s_chunk_data:
    case s_chunk_cr:
    case s_chunk_lf:
    case s_trailer_start:
    case s_trailer:
    case s_trailer_lf:
        return ngx_http_postmark_answer_fail(a,
                   "the answer ended inside its body");

    default:
        return ngx_http_postmark_answer_fail(a, a->head
                   ? "the answer ended inside its head"
                   : "Empty reply from server: the connection closed "
                     "without an answer");
    }
}


static int
ngx_http_postmark_answer_fail(ngx_http_postmark_answer_t *a,
    const char *error)
{
    a->state = s_error;
    a->error = error;
    a->keepalive = 0;

    return NGX_HTTP_POSTMARK_ANSWER_ERROR;
}


/* a header line is whole: what it says, when it is one the reader needs */

static int
ngx_http_postmark_answer_header(ngx_http_postmark_answer_t *a)
{
    size_t      i;
    long long   n;

    while (a->value_len
           && (a->value[a->value_len - 1] == ' '
               || a->value[a->value_len - 1] == '\t'))
    {
        a->value_len--;
    }

    a->value[a->value_len] = '\0';

#define ngx_http_postmark_answer_is(header)                                  \
    (a->name_len == sizeof(header) - 1                                       \
     && strncasecmp(a->name, header, sizeof(header) - 1) == 0)

    if (ngx_http_postmark_answer_is("Content-Length")) {

        if (a->long_value || a->value_len == 0 || a->value_len > 18) {
            return ngx_http_postmark_answer_fail(a,
                       "invalid Content-Length");
        }

        for (i = 0, n = 0; i < a->value_len; i++) {
            if (a->value[i] < '0' || a->value[i] > '9') {
                return ngx_http_postmark_answer_fail(a,
                           "invalid Content-Length");
            }

            n = n * 10 + (a->value[i] - '0');
        }

        if (a->length >= 0 && a->length != n) {
            return ngx_http_postmark_answer_fail(a,
                       "Content-Length twice, with different values");
        }

        a->length = n;

    } else if (ngx_http_postmark_answer_is("Transfer-Encoding")) {

        if (a->chunked || a->value_len != 7
            || strncasecmp(a->value, "chunked", 7) != 0)
        {
            return ngx_http_postmark_answer_fail(a,
                       "a Transfer-Encoding other than chunked");
        }

        a->chunked = 1;

    } else if (ngx_http_postmark_answer_is("Connection")) {

        if (ngx_http_postmark_answer_token(a->value, a->value_len, "close")) {
            a->close = 1;
        }

        if (ngx_http_postmark_answer_token(a->value, a->value_len,
                                           "keep-alive"))
        {
            a->alive = 1;
        }

    } else if (ngx_http_postmark_answer_is("Retry-After")) {

        if (!a->long_value) {
            memcpy(a->retry_after, a->value, a->value_len + 1);
        }
    }

#undef ngx_http_postmark_answer_is

    return 0;
}


/* a head is whole: another one after a 1xx, or the body, or the end */

static int
ngx_http_postmark_answer_head(ngx_http_postmark_answer_t *a)
{
    if (a->status < 200) {
        if (a->status == 101) {
            return ngx_http_postmark_answer_fail(a,
                       "the answer switches protocols");
        }

        ngx_http_postmark_answer_reset(a);
        return 0;
    }

    if (a->chunked && a->length >= 0) {
        return ngx_http_postmark_answer_fail(a,
                   "both Transfer-Encoding and Content-Length");
    }

    a->keepalive = a->minor ? !a->close : a->alive;

    if (a->status == 204 || a->status == 304) {
        a->state = s_done;

    } else if (a->chunked) {
        a->digits = 0;
        a->left = 0;
        a->state = s_chunk_size;

    } else if (a->length >= 0) {
        a->left = a->length;
        a->state = a->length ? s_body : s_done;

    } else {
        a->keepalive = 0;
        a->state = s_until_close;
    }

    return 0;
}


/* whether a comma-separated list has the token, in any case */

static int
ngx_http_postmark_answer_token(const char *list, size_t len,
    const char *token)
{
    size_t  i, j, n;

    n = strlen(token);

    for (i = 0; i < len; i = j + 1) {

        while (i < len && (list[i] == ' ' || list[i] == '\t')) {
            i++;
        }

        for (j = i; j < len && list[j] != ','; j++) { /* void */ }

        while (j > i && (list[j - 1] == ' ' || list[j - 1] == '\t')) {
            j--;
        }

        if (j - i == n && strncasecmp(list + i, token, n) == 0) {
            return 1;
        }

        while (j < len && list[j] != ',') {
            j++;
        }
    }

    return 0;
}
