
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * A job carries one received event to the destinations that match it.  It
 * owns a pool with a copy of the body, so it can outlive the request that
 * brought it; whoever started it learns the outcome through job->done.
 */


#include "ngx_http_postmark_module.h"


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

    pool = ngx_create_pool(4096, ngx_cycle->log);
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
    u_char     *p, md[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_str_t   parts[3];

    parts[0] = job->client->name;
    ngx_str_set(&parts[1], "\0");
    parts[2] = job->body;

    if (ngx_http_postmark_hash(md, parts, 3) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(job->pool, sizeof(NGX_HTTP_POSTMARK_ID_PREFIX)
                               + 2 * NGX_HTTP_POSTMARK_ID_BYTES);
    if (p == NULL) {
        return NGX_ERROR;
    }

    job->id.data = p;

    p = ngx_cpymem(p, NGX_HTTP_POSTMARK_ID_PREFIX,
                   sizeof(NGX_HTTP_POSTMARK_ID_PREFIX) - 1);
    p = ngx_hex_dump(p, md, NGX_HTTP_POSTMARK_ID_BYTES);

    job->id.len = p - job->id.data;
    *p = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_http_postmark_job_add(ngx_http_postmark_job_t *job,
    ngx_http_postmark_dest_t *dest)
{
    u_char                         *line;
    struct curl_slist              *id;
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

    /* the destination's list, with this event's id in front */

    id = ngx_palloc(job->pool, sizeof(struct curl_slist));
    line = ngx_pnalloc(job->pool, sizeof("webhook-id: ") + job->id.len);
    if (id == NULL || line == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(line, "webhook-id: %V%Z", &job->id);

    id->data = (char *) line;
    id->next = dest->headers;

    curl_easy_setopt(fetch->easy, CURLOPT_HTTPHEADER, id);

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
