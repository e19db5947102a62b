
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * What the webhook receiver and the portal API share on the request side:
 * the request context behind the variables, reading the body into one
 * buffer, and JSON answers.
 */


#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_stats.h"

#include <cjson/cJSON.h>


static ngx_int_t ngx_http_postmark_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_http_postmark_body_t *ngx_http_postmark_take_body(
    ngx_http_request_t *r);
static ngx_buf_t *ngx_http_postmark_body_head(ngx_http_request_t *r,
    ngx_buf_t *buf, u_char **end);
#if (NGX_DEBUG)
static void ngx_http_postmark_debug_body(ngx_http_request_t *r,
    ngx_http_postmark_body_t *body);
#endif


#define ngx_http_postmark_var(name, field)                                   \
    { ngx_string(name), NULL, ngx_http_postmark_variable,                    \
      offsetof(ngx_http_postmark_ctx_t, field), NGX_HTTP_VAR_NOCACHEABLE, 0 }

static ngx_http_variable_t  ngx_http_postmark_vars[] = {

    ngx_http_postmark_var("postmark_client", client_name),
    ngx_http_postmark_var("postmark_outcome", outcome),

    /* the webhook receiver */
    ngx_http_postmark_var("postmark_event", event),
    ngx_http_postmark_var("postmark_message_id", message_id),
    ngx_http_postmark_var("postmark_webhook_id", webhook_id),

    /* a client's portal API */
    ngx_http_postmark_var("postmark_operation", operation),
    ngx_http_postmark_var("postmark_template", template),
    ngx_http_postmark_var("postmark_status", upstream_status),

    ngx_http_null_variable
};


ngx_http_postmark_ctx_t *
ngx_http_postmark_create_ctx(ngx_http_request_t *r)
{
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_postmark_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ngx_http_set_ctx(r, ctx, ngx_http_postmark_module);

    return ctx;
}


void
ngx_http_postmark_set_outcome(ngx_http_request_t *r, char *outcome)
{
    ngx_http_postmark_ctx_t       *ctx;
    ngx_http_postmark_loc_conf_t  *plcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);
    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);

    ctx->outcome.data = (u_char *) outcome;
    ctx->outcome.len = ngx_strlen(outcome);

    /* each request has one outcome: it is counted here, once */

    if (plcf->portal_client) {
        ngx_http_postmark_stats_request(plcf->portal_client, 1,
                                        &ctx->outcome, &ctx->event);

    } else {
        ngx_http_postmark_stats_request(ctx->client, 0, &ctx->outcome,
                                        &ctx->event);
    }
}


/* the size of the body read, which chunked bodies only know at the end */

size_t
ngx_http_postmark_body_size(ngx_http_request_t *r)
{
    off_t         size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            size += b->last - b->pos;

        } else if (b->in_file) {
            size += b->file_last - b->file_pos;
        }
    }

    return (size_t) size;
}


/*
 * The body as one span of bytes, held by the request's pool: nginx's own
 * buffer when the body is in it, mapped from nginx's temporary file when
 * that is where it is, without reading it in the event loop, or else
 * copied from the request's buffers.
 */

ngx_http_postmark_body_t *
ngx_http_postmark_read_body(ngx_http_request_t *r)
{
    u_char                    *p;
    size_t                     len;
    ssize_t                    n;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_postmark_body_t  *body;

    cl = r->request_body ? r->request_body->bufs : NULL;

    body = cl ? ngx_http_postmark_take_body(r) : NULL;
    if (body) {
        goto held;
    }

    if (cl && cl->next == NULL && cl->buf->in_file
        && !ngx_buf_in_memory(cl->buf))
    {
        body = ngx_http_postmark_body_map(cl->buf->file->fd,
                                          cl->buf->file_pos,
                                          (size_t) (cl->buf->file_last
                                                    - cl->buf->file_pos),
                                          r->connection->log);
    }

    if (body == NULL) {
        body = ngx_http_postmark_body_alloc(ngx_http_postmark_body_size(r),
                                            r->connection->log);
        if (body == NULL) {
            return NULL;
        }

        p = body->data;

        for ( /* void */ ; cl; cl = cl->next) {
            b = cl->buf;

            if (ngx_buf_in_memory(b)) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
                continue;
            }

            if (!b->in_file) {
                continue;   /* the empty buffer that marks the end */
            }

            /* only when the file could not be mapped */

            len = (size_t) (b->file_last - b->file_pos);

            n = ngx_read_file(b->file, p, len, b->file_pos);

            if (n == NGX_ERROR || (size_t) n != len) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                              ngx_read_file_n " read only %z of %uz bytes "
                              "of the request body", n, len);
                ngx_http_postmark_body_release(body);
                return NULL;
            }

            p += n;
        }
    }

    /* the request's pool takes the reference over */

    rc = ngx_http_postmark_body_hold(r->pool, body);
    ngx_http_postmark_body_release(body);

    if (rc != NGX_OK) {
        return NULL;
    }

held:

#if (NGX_DEBUG)
    ngx_http_postmark_debug_body(r, body);
#endif

    return body;
}


/*
 * nginx reads a body it keeps in memory into one buffer of its own, a large
 * allocation of the request's pool, after the part that came in with the
 * request's head.  The event takes that allocation over instead of copying
 * it, so a large body is in memory once.  The handlers ask for a single
 * buffer, which nginx sizes for the head's part too: that part moves in
 * front, and the request's chain becomes the one buffer.  NULL when the
 * body is held any other way (in the head's buffer, chunked, in a file).
 * The body returned is held by the request's pool.
 */

static ngx_http_postmark_body_t *
ngx_http_postmark_take_body(ngx_http_request_t *r)
{
    u_char                    *end;
    size_t                     head, len;
    ngx_buf_t                 *buf, *pre, *one;
    ngx_pool_large_t          *large;
    ngx_http_postmark_body_t  *body;

    buf = r->request_body->buf;

    if (buf == NULL || r->request_body->temp_file) {
        return NULL;
    }

    pre = ngx_http_postmark_body_head(r, buf, &end);

    if (end == NULL) {
        return NULL;
    }

    head = pre ? (size_t) (pre->last - pre->pos) : 0;
    len = head + (end - buf->start);

    if (len == 0 || len > (size_t) (buf->end - buf->start)) {
        return NULL;
    }

    for (large = r->pool->large; large; large = large->next) {
        if (large->alloc == buf->start) {
            break;
        }
    }

    if (large == NULL) {
        return NULL;
    }

    one = NULL;

    if (pre) {
        one = ngx_calloc_buf(r->pool);
        if (one == NULL) {
            return NULL;
        }
    }

    body = ngx_http_postmark_body_take(buf->start, len, r->connection->log);
    if (body == NULL) {
        return NULL;
    }

    /* the request's pool holds the body before the body holds the buffer */

    if (ngx_http_postmark_body_hold(r->pool, body) != NGX_OK) {
        body->taken = NULL;
        ngx_http_postmark_body_release(body);
        return NULL;
    }

    ngx_http_postmark_body_release(body);

    /* as ngx_pfree() leaves it, but the body frees it */
    large->alloc = NULL;

    if (pre == NULL) {
        return body;
    }

    ngx_memmove(buf->start + head, buf->start, len - head);
    ngx_memcpy(buf->start, pre->pos, head);

    one->temporary = 1;
    one->last_buf = 1;
    one->start = body->data;
    one->pos = body->data;
    one->last = body->data + len;
    one->end = one->last;

    r->request_body->bufs->buf = one;
    r->request_body->bufs->next = NULL;

    return body;
}


/*
 * The buffer before the bytes in "buf", if any, and in "end" where the
 * bytes that follow contiguously from buf's start end; NULL in "end" when
 * the chain is anything else.
 */

static ngx_buf_t *
ngx_http_postmark_body_head(ngx_http_request_t *r, ngx_buf_t *buf,
    u_char **end)
{
    u_char       *next;
    ngx_buf_t    *b, *pre;
    ngx_chain_t  *cl;

    pre = NULL;
    next = buf->start;
    *end = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || (!ngx_buf_in_memory(b) && !b->last_buf)) {
            return NULL;
        }

        if (b->pos == b->last) {
            continue;   /* the empty buffer that marks the end */
        }

        if (b->pos == next) {
            next = b->last;
            continue;
        }

        /* only the first buffer may be elsewhere: the head's part */

        if (cl != r->request_body->bufs
            || (b->pos >= buf->start && b->pos < buf->end))
        {
            return NULL;
        }

        pre = b;
    }

    *end = next;

    return pre;
}


#if (NGX_DEBUG)

/* how nginx held the body: the tests check each case really happens */

static void
ngx_http_postmark_debug_body(ngx_http_request_t *r,
    ngx_http_postmark_body_t *body)
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

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "postmark body: %uz bytes in %ui buffers, file:%ui "
                   "mapped:%ui taken:%ui", body->len, nbufs, in_file,
                   body->map != NULL, body->taken != NULL);
}

#endif


/*
 * Why a body was refused, NUL-terminated: the reason, the member it is
 * about, and the byte where reading stopped.
 */

u_char *
ngx_http_postmark_body_error(ngx_pool_t *pool, char *prefix,
    ngx_http_postmark_event_rc_e rc, size_t offset, const char *member)
{
    u_char  *msg, *p, *last;
    size_t   len;

    len = ngx_strlen(prefix) + 256;

    msg = ngx_pnalloc(pool, len);
    if (msg == NULL) {
        return NULL;
    }

    last = msg + len - 1;

    p = ngx_snprintf(msg, last - msg, "%s%s", prefix,
                     ngx_http_postmark_event_strerror(rc));

    if (member) {
        p = ngx_snprintf(p, last - p, ": \"%s\"", member);
    }

    if (rc != NGX_HTTP_POSTMARK_EVENT_EMPTY
        && rc != NGX_HTTP_POSTMARK_EVENT_NOT_OBJECT
        && rc != NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE
        && rc != NGX_HTTP_POSTMARK_EVENT_NO_MEMORY)
    {
        p = ngx_snprintf(p, last - p, " (at byte %uz)", offset);
    }

    *p = '\0';

    return msg;
}


/* a NULL source leaves an empty string, which variables show as "-" */

ngx_int_t
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


ngx_int_t
ngx_http_postmark_add_header(ngx_http_request_t *r, char *key, char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/* {<head>,"<key>":"<text>"}: an answer of the module's own */

ngx_int_t
ngx_http_postmark_send_message(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *head, char *key, char *text)
{
    u_char     *json, *p;
    size_t      len, escape;
    ngx_int_t   rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    len = ngx_strlen(text);
    escape = ngx_escape_json(NULL, (u_char *) text, len);

    json = ngx_pnalloc(r->pool, sizeof("{,\"\":\"\"}\n") - 1 + head->len
                                + ngx_strlen(key) + len + escape);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(json, "{%V,\"%s\":\"", head, key);
    p = (u_char *) ngx_escape_json(p, (u_char *) text, len);
    p = ngx_cpymem(p, "\"}\n", 3);

    return ngx_http_postmark_send_json(r, status, json, p - json);
}


/* {"status":"<outcome>","message":"<message>"} */

ngx_int_t
ngx_http_postmark_send_status(ngx_http_request_t *r, ngx_uint_t status,
    char *outcome, char *message)
{
    u_char     buf[64];
    ngx_str_t  head;

    head.data = buf;
    head.len = ngx_snprintf(buf, sizeof(buf), "\"status\":\"%s\"", outcome)
               - buf;

    return ngx_http_postmark_send_message(r, status, &head, "message",
                                          message);
}


/* a 401 with the challenge of the scheme the location takes */

ngx_int_t
ngx_http_postmark_send_unauthorized(ngx_http_request_t *r, char *challenge,
    char *message)
{
    if (ngx_http_postmark_add_header(r, "WWW-Authenticate", challenge)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_postmark_send_status(r, NGX_HTTP_UNAUTHORIZED,
                                         "unauthorized", message);
}


ngx_int_t
ngx_http_postmark_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *json, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_type.len == 0) {
        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /* an empty body is a special buffer: nginx refuses empty memory ones */

    b->pos = json;
    b->last = json + len;
    b->memory = (len != 0);
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


/* sends and frees "json" */

/* a cJSON answer, which is freed here */

ngx_int_t
ngx_http_postmark_send_cjson(ngx_http_request_t *r, ngx_uint_t status,
    cJSON *json)
{
    char       *text;
    u_char     *p;
    size_t      len;

    text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(text);

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, text, len);
    p[len] = '\n';
    free(text);

    return ngx_http_postmark_send_json(r, status, p, len + 1);
}
