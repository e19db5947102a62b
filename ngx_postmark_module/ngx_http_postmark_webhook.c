
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The webhook receiver: it authenticates Postmark, reads the event, finds
 * the client's destinations that want it, and answers Postmark only when
 * it knows the outcome: 200 when every matching direct destination took
 * the event and every spooled one has it safely on disk, 503 otherwise,
 * so that Postmark retries and nothing is lost.
 */


#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_spool.h"

#include <openssl/crypto.h>


/* events this large are read in a thread */

#define NGX_HTTP_POSTMARK_THREAD_BODY  (256 * 1024)


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_postmark_job_t        *job;
    ngx_http_postmark_event_t       ev;
    ngx_http_postmark_event_rc_e    rc;
    ngx_int_t                       digest;     /* NGX_OK: "md" is set */
    u_char                          md[NGX_HTTP_POSTMARK_HASH_LEN];
} ngx_http_postmark_reading_t;


static ngx_http_postmark_client_t *ngx_http_postmark_webhook_user(
    ngx_http_postmark_main_conf_t *pmcf, u_char *user);
static ngx_http_postmark_client_t *ngx_http_postmark_webhook_auth(
    ngx_http_request_t *r, ngx_http_postmark_loc_conf_t *plcf);
static void ngx_http_postmark_webhook_body(ngx_http_request_t *r);
static ngx_http_postmark_job_t *ngx_http_postmark_webhook_job(
    ngx_http_request_t *r, ngx_http_postmark_ctx_t *ctx);
static ngx_int_t ngx_http_postmark_webhook_thread(ngx_http_request_t *r,
    ngx_http_postmark_job_t *job);
static void ngx_http_postmark_webhook_read(void *data, ngx_log_t *log);
static void ngx_http_postmark_webhook_read_done(ngx_event_t *ev);
static void ngx_http_postmark_webhook_event(ngx_http_request_t *r,
    ngx_http_postmark_job_t *job, ngx_http_postmark_event_rc_e erc,
    ngx_http_postmark_event_t *ev, u_char *md);
static ngx_int_t ngx_http_postmark_webhook_route(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_job_t *job,
    ngx_http_postmark_event_rc_e erc, ngx_http_postmark_event_t *ev,
    u_char *md, char **reason);
static ngx_int_t ngx_http_postmark_webhook_spool(
    ngx_http_postmark_job_t *job);
static void ngx_http_postmark_webhook_spooled(void *data, ngx_int_t rc);
static void ngx_http_postmark_webhook_done(ngx_http_postmark_job_t *job);
static void ngx_http_postmark_webhook_cleanup(void *data);
static ngx_int_t ngx_http_postmark_webhook_answer(ngx_http_request_t *r,
    ngx_uint_t status, char *outcome, char *message);
static ngx_int_t ngx_http_postmark_webhook_result(ngx_http_request_t *r,
    ngx_uint_t status, char *outcome, ngx_http_postmark_job_t *job,
    char *message);


ngx_int_t
ngx_http_postmark_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_postmark_ctx_t       *ctx;
    ngx_http_postmark_client_t    *client;
    ngx_http_postmark_loc_conf_t  *plcf;

    ctx = ngx_http_postmark_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_postmark_add_header(r, "Allow", "POST") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_postmark_webhook_answer(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed",
                   "Postmark webhooks are delivered with POST");
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);

    client = ngx_http_postmark_webhook_auth(r, plcf);

    if (client == NULL) {
        ngx_http_postmark_set_outcome(r, "unauthorized");

        return ngx_http_postmark_send_unauthorized(r,
                   "Basic realm=\"postmark\"",
                   "valid webhook credentials are required; put them in "
                   "the webhook URL as https://user:password@host/path");
    }

    ctx->client = client;
    ctx->client_name = client->name;

    /* room in nginx's buffer for all of an event: see take_body() */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_postmark_webhook_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            ngx_http_postmark_set_outcome(r, "too_large");
        }

        return rc;
    }

    return NGX_DONE;
}


/*
 * The user's digest finds the one client it can be (users are unique),
 * in one or two probes of a table whatever the user; the password's
 * digest is then compared in constant time, against a dummy for a user
 * nobody has, so an unknown user costs what a known one does and the
 * answer's timing tells nothing.
 */

static ngx_http_postmark_client_t *
ngx_http_postmark_webhook_auth(ngx_http_request_t *r,
    ngx_http_postmark_loc_conf_t *plcf)
{
    u_char                          user[NGX_HTTP_POSTMARK_HASH_LEN];
    u_char                          pass[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_int_t                       rc;
    ngx_http_postmark_client_t     *client;
    ngx_http_postmark_main_conf_t  *pmcf;

    static u_char  nobody[NGX_HTTP_POSTMARK_HASH_LEN];

    rc = ngx_http_auth_basic_user(r);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "postmark webhook: no Basic credentials");
        return NULL;
    }

    if (ngx_http_postmark_hash(user, &r->headers_in.user, 1) != NGX_OK
        || ngx_http_postmark_hash(pass, &r->headers_in.passwd, 1) != NGX_OK)
    {
        return NULL;
    }

    if (plcf->webhook_client) {
        client = plcf->webhook_client;

        if (CRYPTO_memcmp(user, client->user_hash,
                          NGX_HTTP_POSTMARK_HASH_LEN)
            != 0)
        {
            client = NULL;
        }

    } else {
        pmcf = ngx_http_get_module_main_conf(r, ngx_http_postmark_module);
        client = ngx_http_postmark_webhook_user(pmcf, user);
    }

    if (CRYPTO_memcmp(pass, client ? client->password_hash : nobody,
                      NGX_HTTP_POSTMARK_HASH_LEN)
        == 0
        && client)
    {
        return client;
    }

    if (client) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "postmark webhook: wrong password for the webhook "
                      "user of client \"%V\"", &client->name);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "postmark webhook: unknown webhook user%s",
                      plcf->webhook_client ? " for this location" : "");
    }

    return NULL;
}


/* the table's slots from where the digest points, to an empty one */

static ngx_http_postmark_client_t *
ngx_http_postmark_webhook_user(ngx_http_postmark_main_conf_t *pmcf,
    u_char *user)
{
    uint64_t                   key;
    ngx_uint_t                 i;
    ngx_http_postmark_user_t  *u;

    ngx_memcpy(&key, user, sizeof(uint64_t));

    for (i = key & pmcf->users_mask;
         pmcf->users[i].client;
         i = (i + 1) & pmcf->users_mask)
    {
        u = &pmcf->users[i];

        if (u->key == key
            && CRYPTO_memcmp(u->client->user_hash, user,
                             NGX_HTTP_POSTMARK_HASH_LEN)
               == 0)
        {
            return u->client;
        }
    }

    return NULL;
}


static void
ngx_http_postmark_webhook_body(ngx_http_request_t *r)
{
    ngx_http_postmark_ctx_t       *ctx;
    ngx_http_postmark_job_t       *job;
    ngx_http_postmark_event_t      ev;
    ngx_http_postmark_event_rc_e   erc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    job = ngx_http_postmark_webhook_job(r, ctx);
    if (job == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (job->body.len >= NGX_HTTP_POSTMARK_THREAD_BODY
        && ngx_http_postmark_webhook_thread(r, job) == NGX_OK)
    {
        return;
    }

    erc = ngx_http_postmark_event_parse((char *) job->body.data,
                                        job->body.len, &ev);

    ngx_http_postmark_webhook_event(r, job, erc, &ev, NULL);
}


/*
 * A large event (an Inbound message with its attachments) is read and
 * its digest taken in nginx's thread pool: tens of megabytes would hold
 * the worker for tens of milliseconds.  The request waits, blocked as for
 * nginx's own threaded reads, and the worker stays up for it.
 */

static ngx_int_t
ngx_http_postmark_webhook_thread(ngx_http_request_t *r,
    ngx_http_postmark_job_t *job)
{
    ngx_thread_task_t               *task;
    ngx_http_postmark_reading_t     *rd;
    ngx_http_postmark_main_conf_t   *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_postmark_module);

    if (pmcf->thread_pool == NULL) {
        return NGX_DECLINED;
    }

    task = ngx_http_postmark_task_create(sizeof(ngx_http_postmark_reading_t),
                                         ngx_http_postmark_webhook_read,
                                         ngx_http_postmark_webhook_read_done);
    if (task == NULL) {
        return NGX_ERROR;
    }

    rd = task->ctx;
    rd->request = r;
    rd->job = job;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "postmark webhook: reading the %uz byte event in a "
                   "thread", job->body.len);

    if (ngx_thread_task_post(pmcf->thread_pool, task) != NGX_OK) {
        ngx_free(task);
        return NGX_ERROR;
    }

    r->main->blocked++;
    r->aio = 1;

    ngx_http_postmark_hold();

    return NGX_OK;
}


/* in a thread: only the body, the client's name and memory of its own */

static void
ngx_http_postmark_webhook_read(void *data, ngx_log_t *log)
{
    ngx_http_postmark_reading_t  *rd = data;

    rd->rc = ngx_http_postmark_event_parse((char *) rd->job->body.data,
                                           rd->job->body.len, &rd->ev);

    rd->digest = (rd->rc == NGX_HTTP_POSTMARK_EVENT_OK)
                 ? ngx_http_postmark_job_digest(rd->job, rd->md, 1)
                 : NGX_ERROR;
}


static void
ngx_http_postmark_webhook_read_done(ngx_event_t *ev)
{
    ngx_thread_task_t            *task;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_postmark_reading_t  *rd;

    task = ev->data;
    rd = task->ctx;
    r = rd->request;
    c = r->connection;

    ngx_http_postmark_release();
    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    if (c->error) {

        /* the request was ended meanwhile: nginx finalizes it now */

        ngx_http_postmark_event_free(&rd->ev);
        ngx_http_postmark_job_destroy(rd->job);
        ngx_free(task);

        r->write_event_handler(r);
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_http_postmark_webhook_event(r, rd->job, rd->rc, &rd->ev,
                                    rd->digest == NGX_OK ? rd->md : NULL);
    ngx_free(task);

    ngx_http_run_posted_requests(c);
}


/*
 * What a read event becomes: a refusal, an "unmatched" 200, or deliveries
 * (spooled first, when any destination is spooled).  "md" is the digest
 * behind the webhook-id when a thread took it already.
 */

static void
ngx_http_postmark_webhook_event(ngx_http_request_t *r,
    ngx_http_postmark_job_t *job, ngx_http_postmark_event_rc_e erc,
    ngx_http_postmark_event_t *ev, u_char *md)
{
    char                     *reason;
    ngx_int_t                 rc;
    ngx_pool_cleanup_t       *cln;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    rc = ngx_http_postmark_webhook_route(r, ctx, job, erc, ev, md, &reason);

    if (rc != NGX_OK) {
        ngx_http_postmark_job_destroy(job);

        if (rc == NGX_HTTP_BAD_REQUEST) {
            rc = ngx_http_postmark_webhook_answer(r, rc, "rejected", reason);

        } else if (rc == NGX_DECLINED) {
            rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_OK, "unmatched",
                                                  NULL, NULL);
        }

        ngx_http_finalize_request(r, rc);
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_http_postmark_job_destroy(job);
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    job->done = ngx_http_postmark_webhook_done;
    job->data = ctx;

    if (job->spooled.nelts) {
        rc = ngx_http_postmark_webhook_spool(job);

        if (rc == NGX_ABORT) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "postmark webhook of client \"%V\": the %uz "
                          "byte event is larger than the spool can take; "
                          "raise the max_size of \"postmark_spool\"",
                          &ctx->client->name, job->body.len);

            job->spool_failed = 1;

            rc = ngx_http_postmark_webhook_result(r,
                     NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large", job,
                     "the event is larger than the spool can take");

            ngx_http_postmark_job_destroy(job);
            ngx_http_finalize_request(r, rc);
            return;
        }

        if (rc != NGX_OK) {
            job->spool_failed = 1;

            rc = ngx_http_postmark_webhook_result(r,
                     NGX_HTTP_SERVICE_UNAVAILABLE, "failed", job,
                     rc == NGX_DECLINED
                     ? "the spool is full; Postmark will retry"
                     : "the spool cannot be written; Postmark will retry");

            ngx_http_postmark_job_destroy(job);
            ngx_http_finalize_request(r, rc);
            return;
        }
    }

    if (ngx_http_postmark_job_start(job) != NGX_OK) {
        job->failed = job->deliveries.nelts;

        rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "failed", job, NULL);
        ngx_http_postmark_job_destroy(job);
        ngx_http_finalize_request(r, rc);
        return;
    }

    /*
     * The request waits; it is finalized in ngx_http_postmark_webhook_done.
     * A graceful shutdown waits for it too, as it would for a timer: the
     * answer may already be due, its event synced to the spool.
     */

    ctx->job = job;
    cln->handler = ngx_http_postmark_webhook_cleanup;
    cln->data = ctx;

    ngx_http_postmark_hold();
}


static ngx_http_postmark_job_t *
ngx_http_postmark_webhook_job(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx)
{
    ngx_http_postmark_body_t  *body;

    body = ngx_http_postmark_read_body(r);
    if (body == NULL) {
        return NULL;
    }

    return ngx_http_postmark_job_create(ctx->client, body,
                                        r->connection->log);
}


/*
 * Names the event and adds a delivery for every destination that wants
 * it.  Returns NGX_OK when there is something to forward, NGX_DECLINED
 * when nothing wants the event, or an HTTP error status; with
 * NGX_HTTP_BAD_REQUEST, "reason" says what is wrong with the body.
 */

static ngx_int_t
ngx_http_postmark_webhook_route(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_job_t *job,
    ngx_http_postmark_event_rc_e erc, ngx_http_postmark_event_t *ev,
    u_char *md, char **reason)
{
    u_char                     *msg;
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_http_postmark_dest_t   *dest, **slot;

    if (erc != NGX_HTTP_POSTMARK_EVENT_OK) {
        msg = ngx_http_postmark_body_error(r->pool, "", erc,
                                           ev->error_offset, ev->member);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "postmark webhook of client \"%V\" rejected: %s",
                      &ctx->client->name, msg);

        *reason = (char *) msg;

        return NGX_HTTP_BAD_REQUEST;
    }

    /* the event's memory goes away here: keep copies of what logs need */

    if (ngx_http_postmark_copy(r->pool, &ctx->event, ev->record_type)
        != NGX_OK
        || ngx_http_postmark_copy(r->pool, &ctx->message_id, ev->message_id)
           != NGX_OK
        || ngx_http_postmark_copy(job->pool, &job->event, ev->record_type)
           != NGX_OK)
    {
        ngx_http_postmark_event_free(ev);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dest = ctx->client->dests.elts;
    rc = NGX_OK;

    for (i = 0; i < ctx->client->dests.nelts; i++) {
        if (!ngx_http_postmark_filter_match(&dest[i].filter, ev)) {
            continue;
        }

        /*
         * The webhook-id is a digest of the whole body: a small event that
         * no destination wants, and so has no id to carry, is not hashed
         * (a large one was, in its thread, with the rest of its reading).
         */

        if (job->id.len == 0
            && (ngx_http_postmark_job_set_id(job, md) != NGX_OK
                || ngx_http_postmark_copy(r->pool, &ctx->webhook_id,
                                          (char *) job->id.data)
                   != NGX_OK))
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }

        if (dest[i].policy.delivery == NGX_HTTP_POSTMARK_SPOOLED) {
            slot = ngx_array_push(&job->spooled);
            if (slot == NULL) {
                rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                break;
            }

            *slot = &dest[i];
            continue;
        }

        if (ngx_http_postmark_job_add(job, &dest[i]) != NGX_OK) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }
    }

    ngx_http_postmark_event_free(ev);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "postmark webhook client:\"%V\" event:\"%V\" id:%V "
                   "direct:%ui spooled:%ui", &ctx->client->name, &ctx->event,
                   &job->id, job->deliveries.nelts, job->spooled.nelts);

    return (job->deliveries.nelts || job->spooled.nelts) ? NGX_OK
                                                         : NGX_DECLINED;
}


/*
 * The event goes to disk for the spooled destinations; the job waits for
 * the write as for one more delivery.  Returns NGX_OK, NGX_DECLINED when
 * the spool is full, NGX_ABORT when it could never take the event, or
 * NGX_ERROR.
 */

static ngx_int_t
ngx_http_postmark_webhook_spool(ngx_http_postmark_job_t *job)
{
    uint64_t                     now;
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_http_postmark_batch_t   *b;
    ngx_http_postmark_record_t  *rec;

    b = ngx_pcalloc(job->pool, sizeof(ngx_http_postmark_batch_t)
                               + sizeof(ngx_http_postmark_commit_t)
                               + job->spooled.nelts
                                 * sizeof(ngx_http_postmark_record_t));
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->commit = (ngx_http_postmark_commit_t *) (b + 1);
    b->recs = (ngx_http_postmark_record_t *) (b->commit + 1);
    b->dests = job->spooled.elts;
    b->n = job->spooled.nelts;
    b->fresh = job;

    b->commit->handler = ngx_http_postmark_webhook_spooled;
    b->commit->data = job;

    now = ngx_http_postmark_now();

    for (i = 0; i < b->n; i++) {
        rec = &b->recs[i];

        rec->created = now;
        rec->client = (char *) job->client->name.data;
        rec->client_len = job->client->name.len;
        rec->dest = (char *) b->dests[i]->display.data;
        rec->dest_len = b->dests[i]->display.len;
        rec->id = (char *) job->id.data;
        rec->id_len = job->id.len;

        /* only a name for logs: a long one is cut */

        rec->event = (char *) job->event.data;
        rec->event_len = ngx_min(job->event.len, 64);
        rec->body = (char *) job->body.data;
        rec->body_len = job->body.len;
    }

    rc = ngx_http_postmark_spool_write(b);

    if (rc == NGX_OK) {
        job->pending++;
    }

    return rc;
}


static void
ngx_http_postmark_webhook_spooled(void *data, ngx_int_t rc)
{
    ngx_http_postmark_job_t *job = data;

    if (rc != NGX_OK) {
        job->spool_failed = 1;
    }

    if (--job->pending == 0) {
        job->done(job);
    }
}


static void
ngx_http_postmark_webhook_done(ngx_http_postmark_job_t *job)
{
    ngx_int_t                 rc;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = job->data;

    if (ctx == NULL) {
        ngx_http_postmark_job_destroy(job);
        return;     /* the request is gone; Postmark will retry */
    }

    ctx->job = NULL;
    ngx_http_postmark_release();

    r = ctx->request;
    c = r->connection;

    if (job->failed || job->spool_failed) {
        rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "failed", job,
                                              job->spool_failed
                                              ? "the spool cannot be "
                                                "written; Postmark will retry"
                                              : NULL);

    } else {
        rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_OK,
                                              job->spooled.nelts
                                              ? "spooled" : "forwarded",
                                              job, NULL);
    }

    ngx_http_postmark_job_destroy(job);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* the request ended first: the job goes on, and tells no one */

static void
ngx_http_postmark_webhook_cleanup(void *data)
{
    ngx_http_postmark_ctx_t  *ctx = data;

    if (ctx->job) {
        ctx->job->data = NULL;
        ctx->job->log = ngx_cycle->log;
        ctx->job = NULL;
        ngx_http_postmark_release();
    }
}


static ngx_int_t
ngx_http_postmark_webhook_answer(ngx_http_request_t *r, ngx_uint_t status,
    char *outcome, char *message)
{
    ngx_http_postmark_set_outcome(r, outcome);

    return ngx_http_postmark_send_status(r, status, outcome, message);
}


/*
 * Counts the destinations that matched, those spooled, and those that
 * failed: a failed spool write fails every spooled destination.
 */

static ngx_int_t
ngx_http_postmark_webhook_result(ngx_http_request_t *r, ngx_uint_t status,
    char *outcome, ngx_http_postmark_job_t *job, char *message)
{
    u_char                   *json, *p;
    size_t                    len;
    ngx_uint_t                total, spooled, failed;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    ngx_http_postmark_set_outcome(r, outcome);

    spooled = job ? job->spooled.nelts : 0;
    total = job ? job->deliveries.nelts + spooled : 0;
    failed = job ? job->failed : 0;

    if (job && job->spool_failed) {
        failed += spooled;
        spooled = 0;
    }

    len = sizeof("{\"status\":\"\",\"webhook_id\":\"\",\"destinations\":,"
                 "\"spooled\":,\"failed\":,\"message\":\"\"}\n") - 1
          + ctx->outcome.len + ctx->webhook_id.len + 3 * NGX_INT_T_LEN
          + (message ? ngx_strlen(message) : 0);

    json = ngx_pnalloc(r->pool, len);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(json, "{\"status\":\"%V\",\"webhook_id\":\"%V\","
                    "\"destinations\":%ui,\"spooled\":%ui,\"failed\":%ui",
                    &ctx->outcome, &ctx->webhook_id, total, spooled, failed);

    if (message) {
        p = ngx_sprintf(p, ",\"message\":\"%s\"", message);
    }

    p = ngx_sprintf(p, "}\n");

    return ngx_http_postmark_send_json(r, status, json, p - json);
}
