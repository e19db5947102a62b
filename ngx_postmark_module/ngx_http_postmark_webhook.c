
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The webhook receiver: it authenticates Postmark, reads the event, finds
 * the client's destinations that want it, and answers Postmark only when
 * it knows the outcome: 200 when every matching destination took the
 * event, 503 otherwise, so that Postmark retries and nothing is lost.
 */


#include "ngx_http_postmark_module.h"

#include <openssl/crypto.h>


typedef struct {
    ngx_http_postmark_client_t   *client;
    ngx_http_postmark_job_t      *job;       /* while forwards run */
    ngx_http_request_t           *request;

    /* for variables; copies that outlive the job */
    ngx_str_t                     client_name;
    ngx_str_t                     event;
    ngx_str_t                     message_id;
    ngx_str_t                     webhook_id;
    ngx_str_t                     outcome;
} ngx_http_postmark_ctx_t;


static ngx_http_postmark_client_t *ngx_http_postmark_webhook_auth(
    ngx_http_request_t *r, ngx_http_postmark_loc_conf_t *plcf);
static void ngx_http_postmark_webhook_body(ngx_http_request_t *r);
static ngx_http_postmark_job_t *ngx_http_postmark_webhook_job(
    ngx_http_request_t *r, ngx_http_postmark_ctx_t *ctx);
static ngx_int_t ngx_http_postmark_webhook_read(ngx_http_request_t *r,
    ngx_str_t *body);
#if (NGX_DEBUG)
static void ngx_http_postmark_webhook_debug_body(ngx_http_request_t *r,
    ngx_str_t *body);
#endif
static ngx_int_t ngx_http_postmark_webhook_route(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_job_t *job,
    char **reason);
static ngx_int_t ngx_http_postmark_copy(ngx_pool_t *pool, ngx_str_t *dst,
    const char *src);
static void ngx_http_postmark_webhook_done(ngx_http_postmark_job_t *job);
static void ngx_http_postmark_webhook_cleanup(void *data);
static ngx_int_t ngx_http_postmark_webhook_answer(ngx_http_request_t *r,
    ngx_uint_t status, char *outcome, char *message);
static ngx_int_t ngx_http_postmark_webhook_result(ngx_http_request_t *r,
    ngx_uint_t status, char *outcome, ngx_uint_t forwards, ngx_uint_t failed);
static ngx_int_t ngx_http_postmark_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *json, size_t len);
static ngx_int_t ngx_http_postmark_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_postmark_vars[] = {

    { ngx_string("postmark_client"), NULL, ngx_http_postmark_variable,
      offsetof(ngx_http_postmark_ctx_t, client_name),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("postmark_event"), NULL, ngx_http_postmark_variable,
      offsetof(ngx_http_postmark_ctx_t, event),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("postmark_message_id"), NULL, ngx_http_postmark_variable,
      offsetof(ngx_http_postmark_ctx_t, message_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("postmark_webhook_id"), NULL, ngx_http_postmark_variable,
      offsetof(ngx_http_postmark_ctx_t, webhook_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("postmark_outcome"), NULL, ngx_http_postmark_variable,
      offsetof(ngx_http_postmark_ctx_t, outcome),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_postmark_webhook_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_table_elt_t               *h;
    ngx_http_postmark_ctx_t       *ctx;
    ngx_http_postmark_client_t    *client;
    ngx_http_postmark_loc_conf_t  *plcf;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_postmark_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_http_postmark_module);

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_postmark_webhook_answer(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed",
                   "Postmark webhooks are delivered with POST");
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);

    client = ngx_http_postmark_webhook_auth(r, plcf);

    if (client == NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        ngx_str_set(&h->value, "Basic realm=\"postmark\"");

        return ngx_http_postmark_webhook_answer(r, NGX_HTTP_UNAUTHORIZED,
                   "unauthorized",
                   "valid webhook credentials are required; put them in "
                   "the webhook URL as https://user:password@host/path");
    }

    ctx->client = client;
    ctx->client_name = client->name;

    rc = ngx_http_read_client_request_body(r, ngx_http_postmark_webhook_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            ngx_str_set(&ctx->outcome, "too_large");
        }

        return rc;
    }

    return NGX_DONE;
}


/*
 * Every client's credentials are compared, as digests and in constant
 * time, so neither timing nor the order of clients tells which user
 * exists.
 */

static ngx_http_postmark_client_t *
ngx_http_postmark_webhook_auth(ngx_http_request_t *r,
    ngx_http_postmark_loc_conf_t *plcf)
{
    u_char                           user[NGX_HTTP_POSTMARK_HASH_LEN];
    u_char                           pass[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_int_t                        rc;
    ngx_uint_t                       i, n, user_ok, pass_ok;
    ngx_http_postmark_client_t      *found, *known, **clients;
    ngx_http_postmark_main_conf_t   *pmcf;

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
        clients = &plcf->webhook_client;
        n = 1;

    } else {
        pmcf = ngx_http_get_module_main_conf(r, ngx_http_postmark_module);
        clients = pmcf->clients.elts;
        n = pmcf->clients.nelts;
    }

    found = NULL;
    known = NULL;

    for (i = 0; i < n; i++) {
        if (!clients[i]->has_password) {
            continue;
        }

        user_ok = (CRYPTO_memcmp(user, clients[i]->user_hash,
                                 NGX_HTTP_POSTMARK_HASH_LEN) == 0);
        pass_ok = (CRYPTO_memcmp(pass, clients[i]->password_hash,
                                 NGX_HTTP_POSTMARK_HASH_LEN) == 0);

        if (user_ok && known == NULL) {
            known = clients[i];
        }

        if (user_ok && pass_ok && found == NULL) {
            found = clients[i];
        }
    }

    if (found == NULL) {
        if (known) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "postmark webhook: wrong password for the webhook "
                          "user of client \"%V\"", &known->name);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "postmark webhook: unknown webhook user%s",
                          plcf->webhook_client ? " for this location" : "");
        }
    }

    return found;
}


static void
ngx_http_postmark_webhook_body(ngx_http_request_t *r)
{
    char                     *reason;
    ngx_int_t                 rc;
    ngx_uint_t                n;
    ngx_pool_cleanup_t       *cln;
    ngx_http_postmark_ctx_t  *ctx;
    ngx_http_postmark_job_t  *job;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    job = ngx_http_postmark_webhook_job(r, ctx);
    if (job == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_postmark_webhook_route(r, ctx, job, &reason);

    if (rc != NGX_OK) {
        ngx_http_postmark_job_destroy(job);

        if (rc == NGX_HTTP_BAD_REQUEST) {
            rc = ngx_http_postmark_webhook_answer(r, rc, "rejected", reason);

        } else if (rc == NGX_DECLINED) {
            rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_OK, "unmatched",
                                                  0, 0);
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

    if (ngx_http_postmark_job_start(job) != NGX_OK) {
        n = job->deliveries.nelts;
        ngx_http_postmark_job_destroy(job);

        rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "failed", n, n);
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the request waits; it is finalized in ngx_http_postmark_webhook_done */

    ctx->job = job;
    cln->handler = ngx_http_postmark_webhook_cleanup;
    cln->data = ctx;
}


static ngx_http_postmark_job_t *
ngx_http_postmark_webhook_job(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx)
{
    off_t                     size;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_postmark_job_t  *job;

    size = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (ngx_buf_in_memory(b)) {
                size += b->last - b->pos;

            } else if (b->in_file) {
                size += b->file_last - b->file_pos;
            }
        }
    }

    job = ngx_http_postmark_job_create(ctx->client, (size_t) size,
                                       r->connection->log);
    if (job == NULL) {
        return NULL;
    }

    if (ngx_http_postmark_webhook_read(r, &job->body) != NGX_OK) {
        ngx_http_postmark_job_destroy(job);
        return NULL;
    }

    return job;
}


/* the body in one buffer, from memory buffers or nginx's temporary file */

static ngx_int_t
ngx_http_postmark_webhook_read(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    p = body->data;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file) {
            continue;   /* the empty buffer that marks the end */
        }

        len = (size_t) (b->file_last - b->file_pos);

        n = ngx_read_file(b->file, p, len, b->file_pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if ((size_t) n != len) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          ngx_read_file_n " read only %z of %uz bytes "
                          "of the request body", n, len);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;
    *p = '\0';

#if (NGX_DEBUG)
    ngx_http_postmark_webhook_debug_body(r, body);
#endif

    return NGX_OK;
}


#if (NGX_DEBUG)

/* how nginx held the body: the tests check each case really happens */

static void
ngx_http_postmark_webhook_debug_body(ngx_http_request_t *r, ngx_str_t *body)
{
    ngx_uint_t    nbufs, in_file;
    ngx_chain_t  *cl;

    nbufs = 0;
    in_file = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        if (ngx_buf_in_memory(cl->buf) || cl->buf->in_file) {
            nbufs++;
            in_file |= cl->buf->in_file;
        }
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "postmark webhook body: %uz bytes in %ui buffers, "
                   "file:%ui", body->len, nbufs, in_file);
}

#endif


/*
 * Names the event and adds a delivery for every destination that wants
 * it.  Returns NGX_OK when there is something to forward, NGX_DECLINED
 * when nothing wants the event, or an HTTP error status; with
 * NGX_HTTP_BAD_REQUEST, "reason" says what is wrong with the body.
 */

static ngx_int_t
ngx_http_postmark_webhook_route(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_job_t *job,
    char **reason)
{
    u_char                         *msg;
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    ngx_http_postmark_dest_t       *dest;
    ngx_http_postmark_event_t       ev;
    ngx_http_postmark_event_rc_e    erc;

    erc = ngx_http_postmark_event_parse((char *) job->body.data,
                                        job->body.len, &ev);

    if (erc != NGX_HTTP_POSTMARK_EVENT_OK) {
        ngx_http_postmark_event_free(&ev);

        if (erc == NGX_HTTP_POSTMARK_EVENT_NO_MEMORY) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        msg = ngx_pnalloc(r->pool, 128);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (erc == NGX_HTTP_POSTMARK_EVENT_INVALID_JSON
            || erc == NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA)
        {
            ngx_sprintf(msg, "%s (at byte %uz)%Z",
                        ngx_http_postmark_event_strerror(erc),
                        ev.error_offset);

        } else {
            ngx_sprintf(msg, "%s%Z", ngx_http_postmark_event_strerror(erc));
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "postmark webhook of client \"%V\" rejected: %s",
                      &ctx->client->name, msg);

        *reason = (char *) msg;

        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_postmark_job_set_id(job) != NGX_OK) {
        ngx_http_postmark_event_free(&ev);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the cJSON tree goes away here: keep copies of what logs need */

    if (ngx_http_postmark_copy(r->pool, &ctx->event, ev.record_type)
        != NGX_OK
        || ngx_http_postmark_copy(r->pool, &ctx->message_id, ev.message_id)
           != NGX_OK
        || ngx_http_postmark_copy(job->pool, &job->event, ev.record_type)
           != NGX_OK
        || ngx_http_postmark_copy(r->pool, &ctx->webhook_id,
                                  (char *) job->id.data)
           != NGX_OK)
    {
        ngx_http_postmark_event_free(&ev);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dest = ctx->client->dests.elts;
    rc = NGX_OK;

    for (i = 0; i < ctx->client->dests.nelts; i++) {
        if (ngx_http_postmark_filter_match(&dest[i].filter, &ev)
            && ngx_http_postmark_job_add(job, &dest[i]) != NGX_OK)
        {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            break;
        }
    }

    ngx_http_postmark_event_free(&ev);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "postmark webhook client:\"%V\" event:\"%V\" id:%V "
                   "destinations:%ui", &ctx->client->name, &ctx->event,
                   &job->id, job->deliveries.nelts);

    return job->deliveries.nelts ? NGX_OK : NGX_DECLINED;
}


/* a NULL source leaves an empty string, which variables show as "-" */

static ngx_int_t
ngx_http_postmark_copy(ngx_pool_t *pool, ngx_str_t *dst, const char *src)
{
    ngx_str_null(dst);

    if (src == NULL) {
        return NGX_OK;
    }

    dst->len = ngx_strlen(src);

    dst->data = ngx_pnalloc(pool, dst->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, dst->len);

    return NGX_OK;
}


static void
ngx_http_postmark_webhook_done(ngx_http_postmark_job_t *job)
{
    ngx_int_t                 rc;
    ngx_uint_t                forwards, failed;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = job->data;
    forwards = job->deliveries.nelts;
    failed = job->failed;

    ngx_http_postmark_job_destroy(job);

    if (ctx == NULL) {
        return;     /* the request is gone; Postmark will retry */
    }

    ctx->job = NULL;

    r = ctx->request;
    c = r->connection;

    if (failed) {
        rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                              "failed", forwards, failed);

    } else {
        rc = ngx_http_postmark_webhook_result(r, NGX_HTTP_OK, "forwarded",
                                              forwards, 0);
    }

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
    }
}


static ngx_int_t
ngx_http_postmark_webhook_answer(ngx_http_request_t *r, ngx_uint_t status,
    char *outcome, char *message)
{
    u_char                   *json, *p;
    size_t                    len;
    ngx_int_t                 rc;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    ctx->outcome.data = (u_char *) outcome;
    ctx->outcome.len = ngx_strlen(outcome);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = sizeof("{\"status\":\"\",\"message\":\"\"}\n") - 1
          + ctx->outcome.len + ngx_strlen(message);

    json = ngx_pnalloc(r->pool, len);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(json, "{\"status\":\"%V\",\"message\":\"%s\"}\n",
                    &ctx->outcome, message);

    return ngx_http_postmark_send_json(r, status, json, p - json);
}


static ngx_int_t
ngx_http_postmark_webhook_result(ngx_http_request_t *r, ngx_uint_t status,
    char *outcome, ngx_uint_t forwards, ngx_uint_t failed)
{
    u_char                   *json, *p;
    size_t                    len;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    ctx->outcome.data = (u_char *) outcome;
    ctx->outcome.len = ngx_strlen(outcome);

    len = sizeof("{\"status\":\"\",\"webhook_id\":\"\",\"destinations\":,"
                 "\"failed\":}\n") - 1
          + ctx->outcome.len + ctx->webhook_id.len + 2 * NGX_INT_T_LEN;

    json = ngx_pnalloc(r->pool, len);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(json, "{\"status\":\"%V\",\"webhook_id\":\"%V\","
                    "\"destinations\":%ui,\"failed\":%ui}\n",
                    &ctx->outcome, &ctx->webhook_id, forwards, failed);

    return ngx_http_postmark_send_json(r, status, json, p - json);
}


static ngx_int_t
ngx_http_postmark_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *json, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = json;
    b->last = json + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_postmark_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_postmark_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_postmark_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *s;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_postmark_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}
