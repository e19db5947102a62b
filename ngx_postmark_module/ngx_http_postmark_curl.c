
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * All outbound HTTP of a worker goes through one libcurl multi handle that
 * nginx's event loop drives: curl's sockets are watched as nginx events and
 * curl's timer is an nginx timer.  curl owns its sockets; nginx only lends
 * connection structures to watch them, and never closes them.
 */


#include "ngx_http_postmark_module.h"


#define NGX_HTTP_POSTMARK_IDLE_HANDLES  64


typedef struct {
    CURLM              *multi;
    ngx_event_t         timer;
    ngx_connection_t    dummy;      /* debug logging expects ev->data */
    ngx_queue_t         active;
    ngx_uint_t          nactive;

    /* easy handles are kept for reuse: each holds a 16K buffer */
    CURL               *idle[NGX_HTTP_POSTMARK_IDLE_HANDLES];
    ngx_uint_t          nidle;
} ngx_http_postmark_engine_t;


static int ngx_http_postmark_engine_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static void ngx_http_postmark_engine_release(ngx_connection_t *c);
static int ngx_http_postmark_engine_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_postmark_engine_event(ngx_event_t *ev);
static void ngx_http_postmark_engine_timeout(ngx_event_t *ev);
static void ngx_http_postmark_engine_perform(curl_socket_t s, int mask);
static void ngx_http_postmark_engine_drain(void);
static void ngx_http_postmark_engine_finish(ngx_http_postmark_fetch_t *fetch,
    CURLcode result);
static size_t ngx_http_postmark_fetch_discard(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static size_t ngx_http_postmark_fetch_write(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static void ngx_http_postmark_fetch_cleanup(void *data);


/* process-wide: one engine per worker, created in init_process */
static ngx_http_postmark_engine_t  ngx_http_postmark_engine;


ngx_int_t
ngx_http_postmark_engine_init(ngx_cycle_t *cycle)
{
    long                         max;
    ngx_event_conf_t            *ecf;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    engine->multi = curl_multi_init();
    if (engine->multi == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "postmark: curl_multi_init() failed");
        return NGX_ERROR;
    }

    /*
     * every curl socket takes an nginx connection; running out of them
     * would fail every transfer at once, so curl queues beyond half
     */

    ecf = ngx_event_get_conf(cycle->conf_ctx, ngx_event_core_module);
    max = ngx_max((long) ecf->connections / 2, 1);

    curl_multi_setopt(engine->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_postmark_engine_socket);
    curl_multi_setopt(engine->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_postmark_engine_timer);
    curl_multi_setopt(engine->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max);
    curl_multi_setopt(engine->multi, CURLMOPT_MAXCONNECTS, max);

    ngx_queue_init(&engine->active);

    engine->dummy.fd = (ngx_socket_t) -1;

    engine->timer.handler = ngx_http_postmark_engine_timeout;
    engine->timer.data = &engine->dummy;
    engine->timer.log = cycle->log;
    engine->timer.cancelable = 1;

    return NGX_OK;
}


/*
 * At worker exit, transfers still running end as failures, so that their
 * requests are answered (503, and Postmark retries) and their memory freed.
 */

void
ngx_http_postmark_engine_done(ngx_cycle_t *cycle)
{
    ngx_queue_t                 *q;
    ngx_http_postmark_fetch_t   *fetch;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (engine->multi == NULL) {
        return;
    }

    while (!ngx_queue_empty(&engine->active)) {
        q = ngx_queue_head(&engine->active);
        fetch = ngx_queue_data(q, ngx_http_postmark_fetch_t, queue);

        ngx_cpystrn((u_char *) fetch->error, (u_char *) "worker is exiting",
                    CURL_ERROR_SIZE);
        ngx_http_postmark_engine_finish(fetch, CURLE_ABORTED_BY_CALLBACK);
    }

    curl_multi_cleanup(engine->multi);
    engine->multi = NULL;

    while (engine->nidle) {
        curl_easy_cleanup(engine->idle[--engine->nidle]);
    }

    if (engine->timer.timer_set) {
        ngx_del_timer(&engine->timer);
    }
}


ngx_http_postmark_fetch_t *
ngx_http_postmark_fetch_create(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_postmark_fetch_t   *fetch;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    fetch = ngx_pcalloc(pool, sizeof(ngx_http_postmark_fetch_t));
    if (fetch == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_postmark_fetch_cleanup;
    cln->data = fetch;

    fetch->pool = pool;

    if (engine->nidle) {
        fetch->easy = engine->idle[--engine->nidle];
        curl_easy_reset(fetch->easy);

    } else {
        fetch->easy = curl_easy_init();
        if (fetch->easy == NULL) {
            return NULL;
        }
    }

    curl_easy_setopt(fetch->easy, CURLOPT_PRIVATE, fetch);
    curl_easy_setopt(fetch->easy, CURLOPT_ERRORBUFFER, fetch->error);
    curl_easy_setopt(fetch->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(fetch->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(fetch->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(fetch->easy, CURLOPT_WRITEFUNCTION,
                     ngx_http_postmark_fetch_discard);

    /*
     * without it, a transfer that ends while its host name is still being
     * resolved waits for the resolver thread and blocks the worker
     */

    curl_easy_setopt(fetch->easy, CURLOPT_QUICK_EXIT, 1L);

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

    curl_easy_setopt(fetch->easy, CURLOPT_WRITEFUNCTION,
                     ngx_http_postmark_fetch_write);
    curl_easy_setopt(fetch->easy, CURLOPT_WRITEDATA, fetch);
}


ngx_int_t
ngx_http_postmark_fetch_start(ngx_http_postmark_fetch_t *fetch)
{
    CURLMcode                    rc;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (engine->multi == NULL) {
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) "outbound HTTP is not running in this process",
                    CURL_ERROR_SIZE);
        return NGX_ERROR;
    }

    /* curl asks for a 0 ms timer here; the transfer starts when it fires */

    rc = curl_multi_add_handle(engine->multi, fetch->easy);
    if (rc != CURLM_OK) {
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) curl_multi_strerror(rc), CURL_ERROR_SIZE);
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&engine->active, &fetch->queue);
    fetch->active = 1;
    engine->nactive++;

    /* a graceful shutdown waits for running transfers */
    engine->timer.cancelable = 0;

    return NGX_OK;
}


static int
ngx_http_postmark_engine_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    c = socketp;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "postmark curl socket %d what:%d conn:%p", s, what, c);

    if (what == CURL_POLL_REMOVE) {
        if (c) {
            ngx_http_postmark_engine_release(c);
            curl_multi_assign(ngx_http_postmark_engine.multi, s, NULL);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_get_connection(s, ngx_cycle->log);
        if (c == NULL) {
            return -1;
        }

        c->read->log = ngx_cycle->log;
        c->write->log = ngx_cycle->log;
        c->read->handler = ngx_http_postmark_engine_event;
        c->write->handler = ngx_http_postmark_engine_event;

        curl_multi_assign(ngx_http_postmark_engine.multi, s, c);
    }

    /*
     * level-triggered: curl may leave data in a socket after one call, and
     * an edge-triggered socket would then never be reported again
     */

    rev = c->read;
    wev = c->write;

    if ((what & CURL_POLL_IN) && !rev->active) {
        if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return -1;
        }

    } else if (!(what & CURL_POLL_IN) && rev->active) {
        if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    if ((what & CURL_POLL_OUT) && !wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return -1;
        }

    } else if (!(what & CURL_POLL_OUT) && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return -1;
        }
    }

    return 0;
}


/* ngx_close_connection() without the close(): the socket is curl's */

static void
ngx_http_postmark_engine_release(ngx_connection_t *c)
{
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->active || c->write->active) {
        if (ngx_del_conn) {
            ngx_del_conn(c, 0);

        } else {
            if (c->read->active) {
                ngx_del_event(c->read, NGX_READ_EVENT, 0);
            }

            if (c->write->active) {
                ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
            }
        }
    }

    ngx_free_connection(c);

    /* the event loop skips stale events by a closed fd */
    c->fd = (ngx_socket_t) -1;
}


static int
ngx_http_postmark_engine_timer(CURLM *multi, long timeout_ms, void *userp)
{
    ngx_event_t  *ev;

    ev = &ngx_http_postmark_engine.timer;

    /* deleted first, or nginx would keep a nearby older deadline */

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (timeout_ms >= 0) {
        ngx_add_timer(ev, (ngx_msec_t) timeout_ms);
    }

    return 0;
}


static void
ngx_http_postmark_engine_event(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    /* the mask comes from the event: nginx never clears "ready" for us */

    ngx_http_postmark_engine_perform(c->fd, ev->write ? CURL_CSELECT_OUT
                                                      : CURL_CSELECT_IN);
}


static void
ngx_http_postmark_engine_timeout(ngx_event_t *ev)
{
    ngx_http_postmark_engine_perform(CURL_SOCKET_TIMEOUT, 0);
}


static void
ngx_http_postmark_engine_perform(curl_socket_t s, int mask)
{
    int        running;
    CURLMcode  rc;

    /* the connection of "s" may be freed by curl during this call */

    rc = curl_multi_socket_action(ngx_http_postmark_engine.multi, s, mask,
                                  &running);

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "postmark: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    ngx_http_postmark_engine_drain();
}


static void
ngx_http_postmark_engine_drain(void)
{
    int                         left;
    CURL                       *easy;
    CURLMsg                    *msg;
    CURLcode                    result;
    ngx_http_postmark_fetch_t  *fetch;

    for ( ;; ) {
        msg = curl_multi_info_read(ngx_http_postmark_engine.multi, &left);
        if (msg == NULL) {
            break;
        }

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        /* "msg" does not survive curl_multi_remove_handle() */

        easy = msg->easy_handle;
        result = msg->data.result;

        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &fetch);

        ngx_http_postmark_engine_finish(fetch, result);
    }
}


static void
ngx_http_postmark_engine_finish(ngx_http_postmark_fetch_t *fetch,
    CURLcode result)
{
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    curl_easy_getinfo(fetch->easy, CURLINFO_RESPONSE_CODE, &fetch->status);
    curl_multi_remove_handle(engine->multi, fetch->easy);

    ngx_queue_remove(&fetch->queue);
    fetch->active = 0;
    fetch->result = result;

    if (--engine->nactive == 0) {
        engine->timer.cancelable = 1;
    }

    if (result != CURLE_OK && fetch->error[0] == '\0') {
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) curl_easy_strerror(result), CURL_ERROR_SIZE);
    }

    /* may destroy the pool that holds "fetch" */
    fetch->done(fetch);
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

static size_t
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


static void
ngx_http_postmark_fetch_cleanup(void *data)
{
    ngx_http_postmark_fetch_t  *fetch = data;

    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (fetch->easy == NULL) {
        return;
    }

    if (fetch->active) {
        curl_multi_remove_handle(engine->multi, fetch->easy);
        ngx_queue_remove(&fetch->queue);

        if (--engine->nactive == 0) {
            engine->timer.cancelable = 1;
        }
    }

    if (engine->multi && engine->nidle < NGX_HTTP_POSTMARK_IDLE_HANDLES) {
        engine->idle[engine->nidle++] = fetch->easy;
        return;
    }

    curl_easy_cleanup(fetch->easy);
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
