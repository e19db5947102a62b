
/*
 * libFuzzer target for the answer core: bytes a destination may send.
 * The first byte sets the size of the pieces they arrive in; read whole
 * or in pieces, the answer is read the same: the same outcome, status,
 * body, keep-alive and bytes used.  A refusal says why; an answer read
 * whole has a final status.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ngx_http_postmark_answer.h"


typedef struct {
    uint8_t  *body;
    size_t    len;
} sink_t;


static void
keep(void *data, const char *p, size_t len)
{
    sink_t  *s = data;

    s->body = realloc(s->body, s->len + len + 1);
    check(s->body != NULL);
    memcpy(s->body + s->len, p, len);
    s->len += len;
}


static int
read_all(ngx_http_postmark_answer_t *a, const uint8_t *data, size_t size,
    size_t step, sink_t *s, size_t *used)
{
    int     rc;
    size_t  off, n, u;

    ngx_http_postmark_answer_init(a);
    rc = NGX_HTTP_POSTMARK_ANSWER_AGAIN;
    *used = 0;

    for (off = 0; off < size && rc == NGX_HTTP_POSTMARK_ANSWER_AGAIN;
         off += n)
    {
        n = (size - off < step) ? size - off : step;
        u = (size_t) -1;
        rc = ngx_http_postmark_answer_parse(a, (const char *) data + off, n,
                                            &u, keep, s);
        check(u <= n);
        check(rc == NGX_HTTP_POSTMARK_ANSWER_AGAIN ? u == n : 1);
        *used += u;
    }

    if (rc == NGX_HTTP_POSTMARK_ANSWER_AGAIN) {
        rc = ngx_http_postmark_answer_eof(a);
        check(rc != NGX_HTTP_POSTMARK_ANSWER_AGAIN);
    }

    return rc;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         rc1, rc2;
    size_t                      step, used1, used2;
    sink_t                      s1, s2;
    ngx_http_postmark_answer_t  a1, a2;

    if (size == 0) {
        return 0;
    }

    step = data[0] % 16 + 1;
    data++;
    size--;

    memset(&s1, 0, sizeof(sink_t));
    memset(&s2, 0, sizeof(sink_t));

    rc1 = read_all(&a1, data, size, size ? size : 1, &s1, &used1);
    rc2 = read_all(&a2, data, size, step, &s2, &used2);

    check(rc1 == rc2);

    if (rc1 == NGX_HTTP_POSTMARK_ANSWER_ERROR) {
        check(a1.error != NULL && a2.error != NULL);
        check(strcmp(a1.error, a2.error) == 0);
        check(!a1.keepalive && !a2.keepalive);

    } else {
        check(a1.status >= 200 && a1.status <= 999);
        check(a1.status == a2.status && a1.keepalive == a2.keepalive);
        check(used1 == used2 && used1 <= size);
        check(s1.len == s2.len
              && (s1.len == 0 || memcmp(s1.body, s2.body, s1.len) == 0));
        check(s1.len <= used1);
        check(strcmp(a1.retry_after, a2.retry_after) == 0);
    }

    free(s1.body);
    free(s2.body);

    return 0;
}
