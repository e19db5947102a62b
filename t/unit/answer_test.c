
/*
 * Unit tests of the answer core: destinations' HTTP/1.x answers, whole,
 * in pieces of every size, truncated, malformed.
 */


#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "ngx_http_postmark_answer.h"


typedef struct {
    char    body[4096];
    size_t  len;
} sink_t;


static void
keep(void *data, const char *p, size_t len)
{
    sink_t  *s = data;

    if (s->len + len < sizeof(s->body)) {
        memcpy(s->body + s->len, p, len);
    }

    s->len += len;
}


/* the answer fed in pieces of "step" bytes; the outcome, after EOF when asked */

static int
feed(ngx_http_postmark_answer_t *a, const char *text, size_t len, size_t step,
    int eof, sink_t *s, size_t *used)
{
    int     rc;
    size_t  off, n, u;

    ngx_http_postmark_answer_init(a);
    memset(s, 0, sizeof(sink_t));

    rc = NGX_HTTP_POSTMARK_ANSWER_AGAIN;
    *used = 0;

    for (off = 0; off < len && rc == NGX_HTTP_POSTMARK_ANSWER_AGAIN;
         off += n)
    {
        n = (len - off < step) ? len - off : step;
        u = 0;
        rc = ngx_http_postmark_answer_parse(a, text + off, n, &u, keep, s);
        *used += u;

        if (u > n) {
            return 99;
        }
    }

    if (rc == NGX_HTTP_POSTMARK_ANSWER_AGAIN && eof) {
        rc = ngx_http_postmark_answer_eof(a);
    }

    return rc;
}


/* an answer that must be read the same in pieces of any size */

static void
good(const char *name, const char *text, int eof, int status,
    const char *body, int keepalive, size_t extra)
{
    int                         rc;
    size_t                      step, len, got;
    sink_t                      s;
    ngx_http_postmark_answer_t  a;

    len = strlen(text);

    for (step = 1; step <= len; step = (step < 8) ? step + 1 : step * 2) {
        rc = feed(&a, text, len, step, eof, &s, &got);

        if (rc != NGX_HTTP_POSTMARK_ANSWER_DONE || a.status != status
            || s.len != strlen(body) || memcmp(s.body, body, s.len) != 0
            || (int) a.keepalive != keepalive || got != len - extra)
        {
            ok(0, "%s, in pieces of %zu: done (rc %d, status %d, body "
               "\"%.*s\", keepalive %d, used %zu, %s)", name, step, rc,
               a.status, (int) s.len, s.body, a.keepalive, got,
               a.error ? a.error : "");
            return;
        }
    }

    ok(1, "%s: %d, body \"%s\", %s, in pieces of every size", name, status,
       body, keepalive ? "keep-alive" : "close");
}


static void
bad(const char *name, const char *text, int eof, const char *error)
{
    int                         rc;
    size_t                      step, len, got;
    sink_t                      s;
    ngx_http_postmark_answer_t  a;

    len = strlen(text);

    for (step = 1; step <= len; step = (step < 8) ? step + 1 : step * 2) {
        rc = feed(&a, text, len, step, eof, &s, &got);

        if (rc != NGX_HTTP_POSTMARK_ANSWER_ERROR || a.error == NULL
            || strstr(a.error, error) == NULL || a.keepalive)
        {
            ok(0, "%s, in pieces of %zu: refused with \"%s\" (rc %d, %s)",
               name, step, error, rc, a.error ? a.error : "no error");
            return;
        }
    }

    ok(1, "%s: refused, %s", name, error);
}


static void
test_answers(void)
{
    good("204", "HTTP/1.1 204 No Content\r\n\r\n", 0, 204, "", 1, 0);
    good("200 with a length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
         "\r\nhello", 0, 200, "hello", 1, 0);
    good("header names in any case, spaces", "HTTP/1.1 200 OK\r\n"
         "content-LENGTH:   5  \r\nX-Other: a\tb\r\n\r\nhello", 0, 200,
         "hello", 1, 0);
    good("bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 0, 200,
         "ok", 1, 0);
    good("no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0,
         200, "", 1, 0);
    good("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", 0, 200,
         "hello world", 1, 0);
    good("chunked, upper-case hex and a trailer", "HTTP/1.1 200 OK\r\n"
         "Transfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n"
         "X-Trailer: 1\r\n\r\n", 0, 200, "0123456789", 1, 0);
    good("Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\n"
         "Content-Length: 2\r\n\r\nok", 0, 200, "ok", 0, 0);
    good("Connection: a list", "HTTP/1.1 200 OK\r\nConnection: Upgrade , "
         "CLOSE\r\nContent-Length: 0\r\n\r\n", 0, 200, "", 0, 0);
    good("HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 0,
         200, "ok", 0, 0);
    good("HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive"
         "\r\nContent-Length: 2\r\n\r\nok", 0, 200, "ok", 1, 0);
    good("until the connection closes", "HTTP/1.1 200 OK\r\n\r\nall of it",
         1, 200, "all of it", 0, 0);
    good("interim answers skipped", "HTTP/1.1 100 Continue\r\n\r\n"
         "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
         "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", 0, 201, "x", 1,
         0);
    good("a 5xx is an answer too", "HTTP/1.1 503 Service Unavailable\r\n"
         "Retry-After: 120\r\nContent-Length: 4\r\n\r\nbusy", 0, 503, "busy",
         1, 0);
    good("the same Content-Length twice", "HTTP/1.1 200 OK\r\n"
         "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 0, 200, "x", 1,
         0);

    /* bytes after the answer are not consumed: 5 of them here */
    good("bytes after the answer", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
         "\r\nokEXTRA", 0, 200, "ok", 1, 5);
}


static void
test_refusals(void)
{
    bad("empty", "", 1, "closed without an answer");
    bad("not HTTP", "SSH-2.0-OpenSSH\r\n", 0, "not an HTTP/1.x answer");
    bad("HTTP/2", "HTTP/2 200\r\n\r\n", 0, "not an HTTP/1.x answer");
    bad("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", 0, "not an HTTP/1.x answer");
    bad("a status of two digits", "HTTP/1.1 20 OK\r\n\r\n", 0,
        "invalid status line");
    bad("a status of four digits", "HTTP/1.1 2000 OK\r\n\r\n", 0,
        "invalid status line");
    bad("a status from 0", "HTTP/1.1 099 OK\r\n\r\n", 0,
        "invalid status line");
    bad("cut inside the head", "HTTP/1.1 200 OK\r\nContent-Le", 1,
        "ended inside its head");
    bad("cut after the status line", "HTTP/1.1 200 OK\r\n", 1,
        "ended inside its head");
    bad("cut inside the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
        "\r\nhello", 1, "ended inside its body");
    bad("cut inside a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
        "chunked\r\n\r\n5\r\nhel", 1, "ended inside its body");
    bad("without the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
        "chunked\r\n\r\n5\r\nhello\r\n", 1, "ended inside its body");
    bad("a folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", 0,
        "folded");
    bad("a header without a colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", 0,
        "invalid header line");
    bad("a space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 1"
        "\r\n\r\nx", 0, "invalid header line");
    bad("a NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\n\r\n", 0,
        "invalid header line");
    bad("a CR without LF", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", 0,
        "CR without LF");
    bad("a negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        0, "invalid Content-Length");
    bad("a length with a sign", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n"
        "\r\nx", 0, "invalid Content-Length");
    bad("a huge length", "HTTP/1.1 200 OK\r\nContent-Length: "
        "9999999999999999999\r\n\r\n", 0, "invalid Content-Length");
    bad("two different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
        "Content-Length: 2\r\n\r\nxx", 0, "different values");
    bad("gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        0, "other than chunked");
    bad("chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", 0, "other than chunked");
    bad("chunked and a length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
        "chunked\r\nContent-Length: 5\r\n\r\n", 0,
        "both Transfer-Encoding and Content-Length");
    bad("a bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
        "\r\n\r\nZZ\r\n", 0, "invalid chunk size");
    bad("a chunk size too large", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
        "chunked\r\n\r\n1000000000000000\r\n", 0, "invalid chunk size");
    bad("a chunk without its CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
        "chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", 0, "without its CRLF");
    bad("101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 0,
        "switches protocols");

    {
        char    *huge;
        size_t   n;

        n = NGX_HTTP_POSTMARK_ANSWER_HEAD + 100;
        huge = malloc(n + 64);
        memcpy(huge, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
        memset(huge + 24, 'a', n - 24);
        memcpy(huge + n, "\r\n\r\n", 5);
        bad("a head over the limit", huge, 0, "head is too large");

        /* interim heads count too */
        n = 0;

        while (n < NGX_HTTP_POSTMARK_ANSWER_HEAD + 100) {
            memcpy(huge + n, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            n += 25;
            huge = realloc(huge, n + 64);
        }

        huge[n] = '\0';
        bad("interim heads without end", huge, 0, "head is too large");
        free(huge);
    }
}


static void
test_fields(void)
{
    size_t                      used;
    sink_t                      s;
    ngx_http_postmark_answer_t  a;
    const char                 *text;

    text = "HTTP/1.1 429 Too Many Requests\r\nRetry-After:  Wed, 21 Oct 2026 "
           "07:28:00 GMT \r\nContent-Length: 0\r\n\r\n";
    feed(&a, text, strlen(text), 7, 0, &s, &used);
    ok(strcmp(a.retry_after, "Wed, 21 Oct 2026 07:28:00 GMT") == 0,
       "Retry-After kept without its spaces (%s)", a.retry_after);

    text = "HTTP/1.1 100 Continue\r\nRetry-After: 5\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    feed(&a, text, strlen(text), 100, 0, &s, &used);
    ok(a.retry_after[0] == '\0', "an interim head's Retry-After is not kept");

    text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
    ok(feed(&a, text, strlen(text), 100, 0, &s, &used)
       == NGX_HTTP_POSTMARK_ANSWER_AGAIN && used == strlen(text),
       "a body not yet whole: more bytes wanted");
}


int
main(void)
{
    test_answers();
    test_refusals();
    test_fields();

    return done_testing();
}
