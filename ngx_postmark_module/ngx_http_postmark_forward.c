
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * A job carries one received event to the destinations that match it.  It
 * owns a pool with a copy of the body, so it can outlive the request that
 * brought it; whoever started it learns the outcome through job->done.
 */


#include "ngx_http_postmark_module.h"

#include <openssl/evp.h>


#define NGX_HTTP_POSTMARK_ID_PREFIX  "msg_"
#define NGX_HTTP_POSTMARK_ID_BYTES   16


static void ngx_http_postmark_delivery_done(ngx_http_postmark_fetch_t *fetch);
static void ngx_http_postmark_delivery_error(
    ngx_http_postmark_delivery_t *d, const char *reason, long status);


ngx_http_postmark_job_t *
ngx_http_postmark_job_create(ngx_http_postmark_client_t *client, size_t size,
    ngx_log_t *log)
{
    ngx_pool_t               *pool;
    ngx_http_postmark_job_t  *job;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    job = ngx_pcalloc(pool, sizeof(ngx_http_postmark_job_t));
    if (job == NULL) {
        goto failed;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     job->pending = 0;
     *     job->failed = 0;
     *     job->done = NULL;
     *     job->data = NULL;
     */

    job->pool = pool;
    job->log = log;
    job->client = client;

    job->body.data = ngx_pnalloc(pool, size + 1);
    if (job->body.data == NULL) {
        goto failed;
    }

    if (ngx_array_init(&job->deliveries, pool, 2,
                       sizeof(ngx_http_postmark_delivery_t *))
        != NGX_OK)
    {
        goto failed;
    }

    return job;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


/*
 * The id depends only on the client and the bytes Postmark sent, so a
 * retry of the same event carries the same id and destinations can drop
 * the duplicate.
 */

ngx_int_t
ngx_http_postmark_job_set_id(ngx_http_postmark_job_t *job)
{
    u_char         *p, md[EVP_MAX_MD_SIZE];
    unsigned int    n;
    EVP_MD_CTX     *md_ctx;
    ngx_int_t       rc;

    md_ctx = EVP_MD_CTX_new();
    if (md_ctx == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (EVP_DigestInit_ex(md_ctx, EVP_sha256(), NULL) != 1
        || EVP_DigestUpdate(md_ctx, job->client->name.data,
                            job->client->name.len) != 1
        || EVP_DigestUpdate(md_ctx, "", 1) != 1
        || EVP_DigestUpdate(md_ctx, job->body.data, job->body.len) != 1
        || EVP_DigestFinal_ex(md_ctx, md, &n) != 1)
    {
        goto done;
    }

    p = ngx_pnalloc(job->pool, sizeof(NGX_HTTP_POSTMARK_ID_PREFIX)
                               + 2 * NGX_HTTP_POSTMARK_ID_BYTES);
    if (p == NULL) {
        goto done;
    }

    job->id.data = p;

    p = ngx_cpymem(p, NGX_HTTP_POSTMARK_ID_PREFIX,
                   sizeof(NGX_HTTP_POSTMARK_ID_PREFIX) - 1);
    p = ngx_hex_dump(p, md, NGX_HTTP_POSTMARK_ID_BYTES);

    job->id.len = p - job->id.data;
    *p = '\0';

    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md_ctx);

    return rc;
}


ngx_int_t
ngx_http_postmark_job_add(ngx_http_postmark_job_t *job,
    ngx_http_postmark_dest_t *dest)
{
    u_char                         *line;
    ngx_uint_t                      i;
    const char                    **headers;
    ngx_http_postmark_fetch_t      *fetch;
    ngx_http_postmark_delivery_t   *d, **slot;

    /* fetches point to their delivery: it must not move */

    d = ngx_pcalloc(job->pool, sizeof(ngx_http_postmark_delivery_t));
    if (d == NULL) {
        return NGX_ERROR;
    }

    slot = ngx_array_push(&job->deliveries);
    if (slot == NULL) {
        return NGX_ERROR;
    }

    *slot = d;

    d->dest = dest;
    d->job = job;

    fetch = ngx_http_postmark_fetch_create(job->pool);
    if (fetch == NULL) {
        return NGX_ERROR;
    }

    d->fetch = fetch;

    curl_easy_setopt(fetch->easy, CURLOPT_URL, dest->url.data);
    curl_easy_setopt(fetch->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) job->body.len);
    curl_easy_setopt(fetch->easy, CURLOPT_POSTFIELDS, job->body.data);
    curl_easy_setopt(fetch->easy, CURLOPT_TIMEOUT_MS, (long) dest->timeout);

    line = ngx_pnalloc(job->pool, sizeof("webhook-id: ") + job->id.len);
    if (line == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(line, "webhook-id: %V%Z", &job->id);

    /* an empty "Expect:" stops curl from waiting for "100 Continue" */

    if (ngx_http_postmark_fetch_header(fetch,
                                       "Content-Type: application/json")
           != NGX_OK
        || ngx_http_postmark_fetch_header(fetch, "User-Agent: "
                                          NGX_HTTP_POSTMARK_USER_AGENT)
           != NGX_OK
        || ngx_http_postmark_fetch_header(fetch, (char *) line) != NGX_OK
        || ngx_http_postmark_fetch_header(fetch, "Expect:") != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (dest->headers) {
        headers = dest->headers->elts;

        for (i = 0; i < dest->headers->nelts; i++) {
            if (ngx_http_postmark_fetch_header(fetch, headers[i]) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    fetch->done = ngx_http_postmark_delivery_done;
    fetch->data = d;

    return NGX_OK;
}


/*
 * Returns NGX_OK when job->done will be called later, or NGX_ERROR when no
 * delivery could start; every delivery that could not is logged.
 */

ngx_int_t
ngx_http_postmark_job_start(ngx_http_postmark_job_t *job)
{
    ngx_uint_t                      i;
    ngx_http_postmark_delivery_t  **d;

    d = job->deliveries.elts;

    for (i = 0; i < job->deliveries.nelts; i++) {
        d[i]->start = ngx_current_msec;

        if (ngx_http_postmark_fetch_start(d[i]->fetch) != NGX_OK) {
            job->failed++;
            ngx_http_postmark_delivery_error(d[i], d[i]->fetch->error, 0);
            continue;
        }

        job->pending++;
    }

    return job->pending ? NGX_OK : NGX_ERROR;
}


void
ngx_http_postmark_job_destroy(ngx_http_postmark_job_t *job)
{
    ngx_destroy_pool(job->pool);
}


static void
ngx_http_postmark_delivery_done(ngx_http_postmark_fetch_t *fetch)
{
    ngx_http_postmark_job_t       *job;
    ngx_http_postmark_delivery_t  *d;

    d = fetch->data;
    job = d->job;

    if (fetch->result != CURLE_OK) {
        job->failed++;
        ngx_http_postmark_delivery_error(d, fetch->error, 0);

    } else if (fetch->status < 200 || fetch->status > 299) {
        job->failed++;
        ngx_http_postmark_delivery_error(d, "destination answered",
                                         fetch->status);

    } else {
        d->ok = 1;

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, job->log, 0,
                       "postmark forward %V to \"%V\": %l in %M ms",
                       &job->id, &d->dest->display, fetch->status,
                       ngx_current_msec - d->start);
    }

    if (--job->pending == 0) {
        job->done(job);
    }
}


static void
ngx_http_postmark_delivery_error(ngx_http_postmark_delivery_t *d,
    const char *reason, long status)
{
    ngx_http_postmark_job_t  *job;

    job = d->job;

    if (status) {
        ngx_log_error(NGX_LOG_ERR, job->log, 0,
                      "postmark client \"%V\": forward to \"%V\" failed "
                      "after %M ms: %s %l (event %V, webhook-id %V)",
                      &job->client->name, &d->dest->display,
                      ngx_current_msec - d->start, reason, status,
                      &job->event, &job->id);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, job->log, 0,
                  "postmark client \"%V\": forward to \"%V\" failed "
                  "after %M ms: %s (event %V, webhook-id %V)",
                  &job->client->name, &d->dest->display,
                  ngx_current_msec - d->start, reason, &job->event, &job->id);
}
