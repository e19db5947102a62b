
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Calls of curl's own HTTP, such as a portal's to Postmark: their options,
 * the head and the body of their answers; and the pieces a forward's
 * answer shares with them (a body kept up to a size, Retry-After).
 */


#include "ngx_http_postmark_curl.h"


static size_t ngx_http_postmark_fetch_header(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static size_t ngx_http_postmark_fetch_discard(char *ptr, size_t size,
    size_t nmemb, void *userdata);


/* a call of curl's HTTP, such as a portal's to Postmark */

ngx_http_postmark_fetch_t *
ngx_http_postmark_fetch_create(ngx_pool_t *pool)
{
    ngx_http_postmark_fetch_t  *fetch;

    fetch = ngx_http_postmark_fetch_alloc(pool);
    if (fetch == NULL) {
        return NULL;
    }

    fetch->lane = ngx_http_postmark_lanes_api();

    fetch->easy = ngx_http_postmark_easy_get();
    if (fetch->easy == NULL) {
        return NULL;
    }

    ngx_http_postmark_setopt(fetch, CURLOPT_PRIVATE, fetch);
    ngx_http_postmark_setopt(fetch, CURLOPT_ERRORBUFFER, fetch->error);
    ngx_http_postmark_setopt(fetch, CURLOPT_NOSIGNAL, 1L);
    ngx_http_postmark_setopt(fetch, CURLOPT_PROTOCOLS_STR, "http,https");
    ngx_http_postmark_setopt(fetch, CURLOPT_FOLLOWLOCATION, 0L);
    ngx_http_postmark_setopt(fetch, CURLOPT_WRITEFUNCTION,
                             ngx_http_postmark_fetch_discard);
    ngx_http_postmark_setopt(fetch, CURLOPT_HEADERFUNCTION,
                             ngx_http_postmark_fetch_header);
    ngx_http_postmark_setopt(fetch, CURLOPT_HEADERDATA, fetch);

    /*
     * without it, a transfer that ends while its host name is still being
     * resolved waits for the resolver thread and blocks the worker
     */

    ngx_http_postmark_setopt(fetch, CURLOPT_QUICK_EXIT, 1L);

    return fetch;
}


/*
 * Keeps the answer's body in the fetch's pool, up to "max" bytes: a larger
 * one fails the transfer, or with "cut" keeps only its start.
 */

void
ngx_http_postmark_fetch_keep_response(ngx_http_postmark_fetch_t *fetch,
    size_t max, ngx_uint_t cut)
{
    fetch->response_max = max;
    fetch->cut = cut;

    if (fetch->dest) {
        return;     /* the exchange keeps it */
    }

    ngx_http_postmark_setopt(fetch, CURLOPT_WRITEFUNCTION,
                             ngx_http_postmark_fetch_write);
    ngx_http_postmark_setopt(fetch, CURLOPT_WRITEDATA, fetch);
}


/* a status line starts a head, an empty line ends it; 1xx heads too */

static size_t
ngx_http_postmark_fetch_header(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_postmark_fetch_t *fetch = userdata;

    size_t  len;

    len = size * nmemb;

    if (len >= 5 && ngx_strncmp(ptr, "HTTP/", 5) == 0) {
        fetch->head_done = 0;

    } else if ((len == 2 && ptr[0] == '\r' && ptr[1] == '\n')
               || (len == 1 && ptr[0] == '\n'))
    {
        fetch->head_done = 1;
    }

    return len;
}


static size_t
ngx_http_postmark_fetch_discard(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    return size * nmemb;
}


/*
 * A body grows by doubling; a larger answer than allowed fails the
 * transfer, or is cut.
 */

size_t
ngx_http_postmark_fetch_write(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    ngx_http_postmark_fetch_t *fetch = userdata;

    u_char  *p;
    size_t   len, keep, want;

    len = size * nmemb;
    keep = len;

    if (fetch->response.len + len > fetch->response_max) {
        if (!fetch->cut) {
            fetch->too_large = 1;
            return 0;
        }

        keep = fetch->response_max - fetch->response.len;
    }

    want = fetch->response.len + keep;

    if (want > fetch->response_size) {
        fetch->response_size = ngx_min(ngx_max(want, 2 * fetch->response_size),
                                       fetch->response_max);

        p = ngx_pnalloc(fetch->pool, fetch->response_size);
        if (p == NULL) {
            return 0;
        }

        if (fetch->response.len) {
            ngx_memcpy(p, fetch->response.data, fetch->response.len);
            ngx_pfree(fetch->pool, fetch->response.data);
        }

        fetch->response.data = p;
    }

    if (keep) {
        ngx_memcpy(fetch->response.data + fetch->response.len, ptr, keep);
        fetch->response.len += keep;
    }

    return len;
}


/* the seconds an answer's Retry-After asks for: a delay, or a date */

time_t
ngx_http_postmark_fetch_retry_after(ngx_http_postmark_fetch_t *fetch)
{
    char    *v;
    time_t   t;

    v = fetch->answer.retry_after;

    if (v[0] == '\0') {
        return 0;
    }

    t = ngx_atotm((u_char *) v, ngx_strlen(v));

    if (t == NGX_ERROR) {
        t = ngx_parse_http_time((u_char *) v, ngx_strlen(v));
        t = (t == NGX_ERROR || t < ngx_time()) ? 0 : t - ngx_time();
    }

    return t;
}


/*
 * Puts a header line in front of *list, in a node of pool memory: curl
 * only reads header lists, so they need no malloc() and no freeing.
 */

ngx_int_t
ngx_http_postmark_header_list(ngx_pool_t *pool, struct curl_slist **list,
    char *line)
{
    struct curl_slist  *node;

    node = ngx_palloc(pool, sizeof(struct curl_slist));
    if (node == NULL) {
        return NGX_ERROR;
    }

    node->data = line;
    node->next = *list;
    *list = node;

    return NGX_OK;
}
