
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * A job carries one received event to the destinations that match it.  It
 * owns a pool and a reference to the event's body, so it can outlive the
 * request that brought it; whoever started it learns the outcome through
 * job->done.
 */


#include "ngx_http_postmark_forward.h"
#include "ngx_http_postmark_stats.h"

#include <sys/mman.h>


#define NGX_HTTP_POSTMARK_ID_PREFIX  "msg_"
#define NGX_HTTP_POSTMARK_ID_BYTES   16


static ngx_int_t ngx_http_postmark_delivery_head(
    ngx_http_postmark_delivery_t *d);
static void ngx_http_postmark_delivery_done(ngx_http_postmark_fetch_t *fetch);
static void ngx_http_postmark_delivery_error(
    ngx_http_postmark_delivery_t *d, const char *reason, long status);
static void ngx_http_postmark_body_cleanup(void *data);


/*
 * An event's bytes, shared by the request and the jobs that carry it, each
 * holding a reference: no copy for a spooled first attempt, and none of a
 * large body, which is nginx's own buffer taken over or is mapped from
 * nginx's temporary file.
 */

ngx_http_postmark_body_t *
ngx_http_postmark_body_alloc(size_t len, ngx_log_t *log)
{
    ngx_http_postmark_body_t  *b;

    b = ngx_alloc(sizeof(ngx_http_postmark_body_t) + len + 1, log);
    if (b == NULL) {
        return NULL;
    }

    b->data = (u_char *) (b + 1);
    b->len = len;
    b->refs = 1;
    b->map = NULL;
    b->map_len = 0;
    b->taken = NULL;

    return b;
}


/*
 * An allocation of nginx's that holds the body, taken over: it is freed
 * with the last reference instead of with the request's pool.
 */

ngx_http_postmark_body_t *
ngx_http_postmark_body_take(u_char *start, size_t len, ngx_log_t *log)
{
    ngx_http_postmark_body_t  *b;

    b = ngx_http_postmark_body_alloc(0, log);
    if (b == NULL) {
        return NULL;
    }

    b->data = start;
    b->len = len;
    b->taken = start;

    return b;
}


/*
 * The file was just written by this worker, so its pages are in the page
 * cache: reading through the mapping does no I/O, and copies nothing.
 * NULL when it cannot be mapped; the caller then reads it.
 */

ngx_http_postmark_body_t *
ngx_http_postmark_body_map(ngx_fd_t fd, off_t offset, size_t len,
    ngx_log_t *log)
{
    u_char                    *map;
    off_t                      start;
    ngx_http_postmark_body_t  *b;

    if (len == 0) {
        return NULL;
    }

    start = offset & ~((off_t) ngx_pagesize - 1);

    map = mmap(NULL, len + (offset - start), PROT_READ, MAP_PRIVATE, fd,
               start);

    if (map == MAP_FAILED) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "postmark: mmap() of the request body failed");
        return NULL;
    }

    b = ngx_alloc(sizeof(ngx_http_postmark_body_t), log);
    if (b == NULL) {
        (void) munmap(map, len + (offset - start));
        return NULL;
    }

    b->data = map + (offset - start);
    b->len = len;
    b->refs = 1;
    b->map = map;
    b->map_len = len + (offset - start);
    b->taken = NULL;

    return b;
}


void
ngx_http_postmark_body_release(ngx_http_postmark_body_t *b)
{
    if (--b->refs) {
        return;
    }

    if (b->map) {
        (void) munmap(b->map, b->map_len);
    }

    if (b->taken) {
        ngx_free(b->taken);
    }

    ngx_free(b);
}


/* a reference held until "pool" is destroyed */

ngx_int_t
ngx_http_postmark_body_hold(ngx_pool_t *pool, ngx_http_postmark_body_t *b)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_postmark_body_cleanup;
    cln->data = b;
    b->refs++;

    return NGX_OK;
}


static void
ngx_http_postmark_body_cleanup(void *data)
{
    ngx_http_postmark_body_release(data);
}


ngx_http_postmark_job_t *
ngx_http_postmark_job_create(ngx_http_postmark_client_t *client,
    ngx_http_postmark_body_t *body, ngx_log_t *log)
{
    ngx_pool_t               *pool;
    ngx_http_postmark_job_t  *job;

    pool = ngx_create_pool(NGX_HTTP_POSTMARK_JOB_POOL, ngx_cycle->log);
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
     *     job->spool_failed = 0;
     *     job->retry = 0;
     *     job->done = NULL;
     *     job->data = NULL;
     */

    job->pool = pool;
    job->log = log;
    job->client = client;

    if (ngx_http_postmark_body_hold(pool, body) != NGX_OK) {
        goto failed;
    }

    job->shared = body;
    job->body.data = body->data;
    job->body.len = body->len;

    if (ngx_array_init(&job->deliveries, pool, 2,
                       sizeof(ngx_http_postmark_delivery_t *))
        != NGX_OK)
    {
        goto failed;
    }

    if (ngx_array_init(&job->spooled, pool, 1,
                       sizeof(ngx_http_postmark_dest_t *))
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
ngx_http_postmark_job_digest(ngx_http_postmark_job_t *job, u_char *md,
    ngx_uint_t thread)
{
    ngx_str_t  parts[3];

    parts[0] = job->client->name;
    ngx_str_set(&parts[1], "\0");
    parts[2] = job->body;

    return thread ? ngx_http_postmark_hash_r(md, parts, 3)
                  : ngx_http_postmark_hash(md, parts, 3);
}


/* the webhook-id, from the digest (NULL: computed here) */

ngx_int_t
ngx_http_postmark_job_set_id(ngx_http_postmark_job_t *job, u_char *md)
{
    u_char  *p, buf[NGX_HTTP_POSTMARK_HASH_LEN];

    if (md == NULL) {
        md = buf;

        if (ngx_http_postmark_job_digest(job, md, 0) != NGX_OK) {
            return NGX_ERROR;
        }
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
    long                            n;
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
    d->body = job->body;

    if (dest->npaths) {
        d->body.data = ngx_pnalloc(job->pool, job->body.len + 1);
        if (d->body.data == NULL) {
            return NGX_ERROR;
        }

        n = ngx_http_postmark_trim((char *) job->body.data, job->body.len,
                                   dest->paths, dest->npaths,
                                   (char *) d->body.data);
        if (n < 0) {
            d->error = "its fields cannot be removed";
            return NGX_OK;
        }

        d->body.len = n;
    }

    fetch = ngx_http_postmark_forward_create(job->pool, dest);
    if (fetch == NULL) {
        return NGX_ERROR;
    }

    d->fetch = fetch;
    fetch->done = ngx_http_postmark_delivery_done;
    fetch->data = d;
    fetch->body = d->body;

    return ngx_http_postmark_delivery_head(d);
}


/*
 * The destination's head with this delivery's own lines: the event's id,
 * and when the destination has signing secrets, the time of this attempt
 * and one signature per secret over what is sent; then the length.
 */

static ngx_int_t
ngx_http_postmark_delivery_head(ngx_http_postmark_delivery_t *d)
{
    u_char                    *p;
    long                       n;
    time_t                     now;
    ngx_str_t                 *head;
    ngx_http_postmark_job_t   *job;
    ngx_http_postmark_dest_t  *dest;

    job = d->job;
    dest = d->dest;
    head = &d->fetch->head;

    head->data = ngx_pnalloc(job->pool,
                             dest->head.len
                             + sizeof("webhook-id: \r\n") - 1 + job->id.len
                             + sizeof("webhook-timestamp: \r\n") - 1
                             + NGX_TIME_T_LEN
                             + sizeof("webhook-signature: \r\n") - 1
                             + dest->nkeys * NGX_HTTP_POSTMARK_SIGNATURE_LEN
                             + sizeof("Content-Length: \r\n\r\n") - 1
                             + NGX_SIZE_T_LEN);
    if (head->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(head->data, dest->head.data, dest->head.len);
    p = ngx_sprintf(p, "webhook-id: %V\r\n", &job->id);

    if (dest->nkeys) {
        now = ngx_time();

        p = ngx_sprintf(p, "webhook-timestamp: %T\r\nwebhook-signature: ",
                        now);

        n = ngx_http_postmark_sign(dest->keys, dest->nkeys,
                                   (char *) job->id.data, job->id.len,
                                   (long long) now, (char *) d->body.data,
                                   d->body.len, (char *) p);
        if (n < 0) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(p + n, "\r\n");
    }

    p = ngx_sprintf(p, "Content-Length: %uz\r\n\r\n", d->body.len);

    head->len = p - head->data;

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

        if (d[i]->error) {
            job->failed++;
            ngx_http_postmark_delivery_error(d[i], d[i]->error, 0);
            continue;
        }

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

    ngx_http_postmark_stats_attempt(d->dest, fetch->status, fetch->result,
                                    ngx_current_msec - d->start, d->body.len,
                                    fetch->error, &fetch->response);

    if (fetch->result != CURLE_OK) {
        job->failed++;
        ngx_http_postmark_delivery_error(d, fetch->error, 0);

    } else if (fetch->status < 200 || fetch->status > 299) {
        job->failed++;
        ngx_http_postmark_delivery_error(d, "destination answered",
                                         fetch->status);

    } else {
        d->ok = 1;
        ngx_http_postmark_stats_delivery(d->dest,
                                         NGX_HTTP_POSTMARK_D_DELIVERED);

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, job->log, 0,
                       "postmark forward %V to \"%V\": %l in %M ms",
                       &job->id, &d->dest->display, fetch->status,
                       ngx_current_msec - d->start);
    }

    /* a direct forward that failed is Postmark's to send again */

    if (!d->ok && !job->retry) {
        ngx_http_postmark_stats_delivery(d->dest, NGX_HTTP_POSTMARK_D_FAILED);
    }

    if (--job->pending == 0) {
        job->done(job);
    }
}


/* an attempt from the spool logs its failure itself, with what follows */

static void
ngx_http_postmark_delivery_error(ngx_http_postmark_delivery_t *d,
    const char *reason, long status)
{
    d->reason = reason;
    d->status = status;
    d->elapsed = ngx_current_msec - d->start;

    if (!d->job->retry) {
        ngx_http_postmark_delivery_log(d, NGX_LOG_ERR, "");
    }
}


void
ngx_http_postmark_delivery_log(ngx_http_postmark_delivery_t *d,
    ngx_uint_t level, const char *then)
{
    u_char                    via[NGX_MAX_ERROR_STR], waited[64];
    ngx_http_postmark_job_t  *job;

    job = d->job;

    /* curl's reason counts from the transfer's start, not the queue's */

    *waited = '\0';

    if (d->fetch && d->fetch->waited) {
        *ngx_snprintf(waited, sizeof(waited) - 1, " (%M ms of them waiting "
                      "for room)", d->fetch->waited) = '\0';
    }

    /* a proxy on the way is named: its address is in curl's reasons */

    *ngx_snprintf(via, sizeof(via) - 1, "%s%V%s",
                  d->dest->proxy.len ? " via proxy \"" : "",
                  &d->dest->proxy_display,
                  d->dest->proxy.len ? "\"" : "") = '\0';

    if (d->status) {
        ngx_log_error(level, job->log, 0,
                      "postmark client \"%V\": forward to \"%V\"%s failed "
                      "after %M ms%s: %s %l (event %V, webhook-id %V)%s",
                      &job->client->name, &d->dest->display, via,
                      d->elapsed, waited, d->reason, d->status, &job->event,
                      &job->id, then);
        return;
    }

    ngx_log_error(level, job->log, 0,
                  "postmark client \"%V\": forward to \"%V\"%s failed "
                  "after %M ms%s: %s (event %V, webhook-id %V)%s",
                  &job->client->name, &d->dest->display, via, d->elapsed,
                  waited, d->reason, &job->event, &job->id, then);
}
