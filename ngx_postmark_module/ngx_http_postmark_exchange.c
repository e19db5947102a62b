
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The forward exchange.  A forward takes a kept connection of its
 * destination, or has curl make one (CURLOPT_CONNECT_ONLY: name, TCP,
 * TLS, a proxy); writes its request in one go; reads the answer with the
 * answer core; and keeps the connection when the answer allows.  A kept
 * connection that fails before any byte of the answer is tried once more
 * on a fresh one, with the same request and so the same webhook-id.
 */


#include "ngx_http_postmark_curl.h"


/* kept connections: per destination, in the worker, and for how long */
#define NGX_HTTP_POSTMARK_KEEP_DEST     32
#define NGX_HTTP_POSTMARK_KEEP_IDLE     30000
#define NGX_HTTP_POSTMARK_RECV_BUF      16384
#define NGX_HTTP_POSTMARK_SEND_ONE      16384


/*
 * A connection to a destination: curl made it and keeps its socket and
 * TLS, its easy handle left done in the multi handle; nginx watches the
 * socket; the forwards on it are the module's own.
 */

struct ngx_http_postmark_conn_s {
    CURL                       *easy;
    ngx_connection_t           *c;
    ngx_http_postmark_dest_t   *dest;
    ngx_http_postmark_fetch_t  *fetch;      /* NULL while kept */
    ngx_queue_t                 queue;      /* in its destination's */
    ngx_queue_t                 all;        /* among all kept */
    unsigned                    kept:1;     /* in both lists */
};


typedef struct {
    /* connections to destinations kept between forwards, oldest first */
    ngx_queue_t                 kept;
    ngx_uint_t                  nkept;

    /* kept connections nginx took back: curl lets them go when posted */
    ngx_queue_t                 closing;
    ngx_event_t                 close;
} ngx_http_postmark_conns_t;


static void ngx_http_postmark_exchange_start(ngx_http_postmark_fetch_t *fetch,
    ngx_msec_t timeout);
static void ngx_http_postmark_exchange_connect(
    ngx_http_postmark_fetch_t *fetch);
static void ngx_http_postmark_exchange_connected(
    ngx_http_postmark_fetch_t *fetch, CURLcode result);
static void ngx_http_postmark_exchange_attach(ngx_http_postmark_fetch_t *fetch,
    ngx_http_postmark_conn_t *conn);
static void ngx_http_postmark_exchange_event(ngx_event_t *ev);
static ngx_int_t ngx_http_postmark_exchange_send(
    ngx_http_postmark_fetch_t *fetch);
static void ngx_http_postmark_exchange_recv(ngx_http_postmark_fetch_t *fetch);
static void ngx_http_postmark_exchange_why(ngx_http_postmark_fetch_t *fetch,
    CURLcode rc, ngx_err_t err);
static void ngx_http_postmark_exchange_body(void *data, const char *p,
    size_t len);
static void ngx_http_postmark_exchange_fail(ngx_http_postmark_fetch_t *fetch,
    CURLcode result, const char *reason);
static void ngx_http_postmark_exchange_expire(ngx_event_t *ev);
static void ngx_http_postmark_exchange_end(ngx_http_postmark_fetch_t *fetch,
    CURLcode result);
static void ngx_http_postmark_exchange_cleanup(
    ngx_http_postmark_fetch_t *fetch);
static ngx_http_postmark_conn_t *ngx_http_postmark_conn_take(
    ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_conn_keep(ngx_http_postmark_conn_t *conn);
static void ngx_http_postmark_conn_close(ngx_http_postmark_conn_t *conn);
static void ngx_http_postmark_conns_close(void);
static void ngx_http_postmark_conn_unwatch(ngx_http_postmark_conn_t *conn);
static void ngx_http_postmark_conns_let_go(ngx_event_t *ev);


/* process-wide: this worker's kept connections */
static ngx_http_postmark_conns_t  ngx_http_postmark_conns;

/* what the engine asks of forwards */
static ngx_http_postmark_exchange_t  ngx_http_postmark_exchange = {
    ngx_http_postmark_exchange_start,
    ngx_http_postmark_exchange_connected,
    ngx_http_postmark_exchange_end,
    ngx_http_postmark_exchange_cleanup,
    ngx_http_postmark_conns_close
};


void
ngx_http_postmark_exchange_init(ngx_cycle_t *cycle)
{
    ngx_http_postmark_conns_t  *conns;

    conns = &ngx_http_postmark_conns;

    ngx_queue_init(&conns->kept);
    ngx_queue_init(&conns->closing);
    ngx_http_postmark_timer_init(&conns->close,
                                 ngx_http_postmark_conns_let_go, cycle->log);

    ngx_http_postmark_engine_exchange(&ngx_http_postmark_exchange);
}


/* a forward: the request is set in head and body by its owner */

ngx_http_postmark_fetch_t *
ngx_http_postmark_forward_create(ngx_pool_t *pool,
    ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_fetch_t  *fetch;

    fetch = ngx_http_postmark_fetch_alloc(pool);
    if (fetch == NULL) {
        return NULL;
    }

    fetch->dest = dest;
    fetch->lane = &dest->lane;
    fetch->timeout = dest->timeout;

    return fetch;
}


static void
ngx_http_postmark_exchange_start(ngx_http_postmark_fetch_t *fetch,
    ngx_msec_t timeout)
{
    ngx_http_postmark_conn_t  *conn;

    fetch->started = ngx_current_msec;
    fetch->wait.handler = ngx_http_postmark_exchange_expire;
    ngx_add_timer(&fetch->wait, timeout);

    conn = ngx_http_postmark_conn_take(fetch->dest);

    /*
     * It goes on from the event loop, never from here: the forward's owner
     * is told of its end only after ngx_http_postmark_fetch_start().
     */

    if (conn) {
        fetch->reused = 1;
        ngx_http_postmark_exchange_attach(fetch, conn);
        ngx_post_event(conn->c->write, &ngx_posted_events);
        return;
    }

    ngx_http_postmark_exchange_connect(fetch);
}


static void
ngx_http_postmark_exchange_connect(ngx_http_postmark_fetch_t *fetch)
{
    CURL                      *easy;
    CURLMcode                  rc;
    ngx_msec_t                 left;
    ngx_http_postmark_dest_t  *dest;

    dest = fetch->dest;

    easy = ngx_http_postmark_easy_get();
    if (easy == NULL) {
        ngx_http_postmark_fetch_lost(fetch, "curl_easy_init() failed");
        return;
    }

    fetch->easy = easy;
    fetch->connecting = 1;
    fetch->setopt = CURLE_OK;
    fetch->error[0] = '\0';

    left = fetch->wait.timer.key > ngx_current_msec
           ? fetch->wait.timer.key - ngx_current_msec : 1;

    ngx_http_postmark_setopt(fetch, CURLOPT_PRIVATE, fetch);
    ngx_http_postmark_setopt(fetch, CURLOPT_ERRORBUFFER, fetch->error);
    ngx_http_postmark_setopt(fetch, CURLOPT_NOSIGNAL, 1L);
    ngx_http_postmark_setopt(fetch, CURLOPT_QUICK_EXIT, 1L);
    ngx_http_postmark_setopt(fetch, CURLOPT_PROTOCOLS_STR, "http,https");
    ngx_http_postmark_setopt(fetch, CURLOPT_URL, dest->url.data);
    ngx_http_postmark_setopt(fetch, CURLOPT_CONNECT_ONLY, 1L);
    ngx_http_postmark_setopt(fetch, CURLOPT_TIMEOUT_MS, (long) left);

    /* the exchange is HTTP/1.1: TLS must not agree on h2 (ALPN) */

    ngx_http_postmark_setopt(fetch, CURLOPT_HTTP_VERSION,
                             (long) CURL_HTTP_VERSION_1_1);

    /* a trusted certificate replaces the system's authorities */

    if (dest->ca.data) {
        ngx_http_postmark_setopt(fetch, CURLOPT_CAINFO_BLOB, &dest->ca);
        ngx_http_postmark_setopt(fetch, CURLOPT_CAINFO, NULL);
        ngx_http_postmark_setopt(fetch, CURLOPT_CAPATH, NULL);
    }

    if (dest->cert.data) {
        ngx_http_postmark_setopt(fetch, CURLOPT_SSLCERT_BLOB, &dest->cert);
        ngx_http_postmark_setopt(fetch, CURLOPT_SSLCERTTYPE, "PEM");
        ngx_http_postmark_setopt(fetch, CURLOPT_SSLKEY_BLOB, &dest->cert_key);
        ngx_http_postmark_setopt(fetch, CURLOPT_SSLKEYTYPE, "PEM");
    }

    if (dest->tls_version) {
        ngx_http_postmark_setopt(fetch, CURLOPT_SSLVERSION, dest->tls_version);
    }

    /*
     * the request was built for the proxy set, or none: no proxy of the
     * environment (http_proxy, no_proxy) may change the way
     */

    ngx_http_postmark_setopt(fetch, CURLOPT_PROXY,
                             dest->proxy.len ? (char *) dest->proxy.data : "");

    if (dest->proxy.len) {
        ngx_http_postmark_setopt(fetch, CURLOPT_NOPROXY, "");
    }

    /* failures are reported as any other, from the event loop */

    if (fetch->setopt != CURLE_OK) {
        ngx_http_postmark_fetch_lost(fetch,
                                     curl_easy_strerror(fetch->setopt));
        return;
    }

    rc = ngx_http_postmark_engine_add(easy);

    if (rc != CURLM_OK) {
        ngx_http_postmark_fetch_lost(fetch, curl_multi_strerror(rc));
    }
}


/* curl is done connecting: the socket becomes a connection of the module */

static void
ngx_http_postmark_exchange_connected(ngx_http_postmark_fetch_t *fetch,
    CURLcode result)
{
    curl_socket_t              s;
    ngx_connection_t          *c;
    ngx_http_postmark_conn_t  *conn;

    fetch->connecting = 0;

    if (result != CURLE_OK) {
        ngx_http_postmark_exchange_end(fetch, result);
        return;
    }

    if (curl_easy_getinfo(fetch->easy, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK
        || s == CURL_SOCKET_BAD)
    {
        ngx_http_postmark_exchange_fail(fetch, CURLE_COULDNT_CONNECT,
                                        "curl kept no connection");
        return;
    }

    conn = ngx_calloc(sizeof(ngx_http_postmark_conn_t), ngx_cycle->log);
    if (conn == NULL) {
        ngx_http_postmark_exchange_fail(fetch, CURLE_OUT_OF_MEMORY,
                                        "out of memory");
        return;
    }

    c = ngx_get_connection(s, ngx_cycle->log);
    if (c == NULL) {
        ngx_free(conn);
        ngx_http_postmark_exchange_fail(fetch, CURLE_COULDNT_CONNECT,
                                        "no free connection: all "
                                        "worker_connections are in use");
        return;
    }

    c->data = conn;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;
    c->read->handler = ngx_http_postmark_exchange_event;
    c->write->handler = ngx_http_postmark_exchange_event;

    /* level-triggered, as curl's sockets: TLS may keep bytes back */

    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_http_postmark_engine_release(c);
        ngx_free(conn);
        ngx_http_postmark_exchange_fail(fetch, CURLE_COULDNT_CONNECT,
                                        "its socket cannot be watched");
        return;
    }

    conn->easy = fetch->easy;
    conn->c = c;
    conn->dest = fetch->dest;
    fetch->easy = NULL;

    (void) curl_easy_setopt(conn->easy, CURLOPT_PRIVATE, NULL);

    ngx_http_postmark_exchange_attach(fetch, conn);
    (void) ngx_http_postmark_exchange_send(fetch);
}


static void
ngx_http_postmark_exchange_attach(ngx_http_postmark_fetch_t *fetch,
    ngx_http_postmark_conn_t *conn)
{
    conn->fetch = fetch;
    fetch->conn = conn;
    fetch->sent = 0;
    fetch->received = 0;
    fetch->extra = 0;
    fetch->error[0] = '\0';

    (void) curl_easy_setopt(conn->easy, CURLOPT_ERRORBUFFER, fetch->error);

    ngx_http_postmark_answer_init(&fetch->answer);
}


static void
ngx_http_postmark_exchange_event(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_postmark_conn_t   *conn;
    ngx_http_postmark_fetch_t  *fetch;

    c = ev->data;
    conn = c->data;
    fetch = conn->fetch;

    /*
     * A kept connection that says something, or is due, or that nginx
     * takes back (short of connections, or shutting down).  nginx may do
     * that from inside one of curl's callbacks (ngx_get_connection() drains
     * reusable connections), where curl must not be called: its slot is
     * given back now, the rest is done from a posted event.
     */

    if (fetch == NULL) {
        if (c->close) {
            ngx_http_postmark_conn_unwatch(conn);
            ngx_queue_insert_tail(&ngx_http_postmark_conns.closing,
                                  &conn->all);

            if (!ngx_http_postmark_conns.close.posted) {
                ngx_post_event(&ngx_http_postmark_conns.close,
                               &ngx_posted_events);
            }

            return;
        }

        ngx_http_postmark_conn_close(conn);
        return;
    }

    if (ngx_http_postmark_engine_reclaimed(c)) {
        return;
    }

    if (fetch->sent < fetch->head.len + fetch->body.len
        && ngx_http_postmark_exchange_send(fetch) == NGX_DONE)
    {
        return;
    }

    /*
     * The answer is read when the socket has it: its read event is
     * level-triggered, and right after the request a read would find
     * nothing, a system call for each forward.  Readable while still
     * sending is an answer that comes early (a 413 before the whole
     * body): it is read all the same.
     */

    if (ev->write) {
        return;
    }

    ngx_http_postmark_exchange_recv(fetch);
}


/*
 * The head, then the body, as far as the socket takes them: NGX_OK when
 * all is sent, NGX_AGAIN when the socket is full, NGX_DONE when the
 * forward ended (and "fetch" may be gone).
 */

static ngx_int_t
ngx_http_postmark_exchange_send(ngx_http_postmark_fetch_t *fetch)
{
    u_char                    *p;
    size_t                     len, n;
    CURLcode                   rc;
    ngx_connection_t          *c;
    ngx_http_postmark_conn_t  *conn;
    u_char                     one[NGX_HTTP_POSTMARK_SEND_ONE];

    conn = fetch->conn;
    c = conn->c;

    while (fetch->sent < fetch->head.len + fetch->body.len) {

        if (fetch->sent < fetch->head.len) {
            p = fetch->head.data + fetch->sent;
            len = fetch->head.len - fetch->sent;

            /*
             * A small request goes out in one write: the head and then
             * the body would be two segments, each a trip through both
             * TCP stacks and a wakeup of the destination.
             */

            if (len + fetch->body.len <= sizeof(one)) {
                ngx_memcpy(one, p, len);
                ngx_memcpy(one + len, fetch->body.data, fetch->body.len);
                p = one;
                len += fetch->body.len;
            }

        } else {
            p = fetch->body.data + fetch->sent - fetch->head.len;
            len = fetch->body.len - (fetch->sent - fetch->head.len);
        }

        n = 0;
        rc = curl_easy_send(conn->easy, p, len, &n);

        if (rc == CURLE_AGAIN) {
            if (!c->write->active
                && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
                   != NGX_OK)
            {
                ngx_http_postmark_exchange_fail(fetch, CURLE_SEND_ERROR,
                                                "its socket cannot be "
                                                "watched");
                return NGX_DONE;
            }

            return NGX_AGAIN;
        }

        if (rc != CURLE_OK) {
            ngx_http_postmark_exchange_why(fetch, rc, ngx_socket_errno);
            ngx_http_postmark_exchange_fail(fetch, rc, NULL);
            return NGX_DONE;
        }

        fetch->sent += n;
    }

    if (c->write->active && ngx_del_event(c->write, NGX_WRITE_EVENT, 0)
                            != NGX_OK)
    {
        ngx_http_postmark_exchange_fail(fetch, CURLE_SEND_ERROR,
                                        "its socket cannot be watched");
        return NGX_DONE;
    }

    return NGX_OK;
}


static void
ngx_http_postmark_exchange_recv(ngx_http_postmark_fetch_t *fetch)
{
    int                         rc;
    size_t                      n, used;
    CURLcode                    result;
    ngx_uint_t                  reads;
    ngx_http_postmark_conn_t   *conn;
    u_char                      buf[NGX_HTTP_POSTMARK_RECV_BUF];

    conn = fetch->conn;

    /* a few reads at a time: the event is level-triggered, others wait */

    for (reads = 0; reads < 16; reads++) {
        n = 0;
        result = curl_easy_recv(conn->easy, buf, sizeof(buf), &n);

        if (result == CURLE_AGAIN) {
            return;
        }

        if (result != CURLE_OK) {
            ngx_http_postmark_exchange_why(fetch, result, ngx_socket_errno);
            ngx_http_postmark_exchange_fail(fetch, CURLE_RECV_ERROR, NULL);
            return;
        }

        if (n == 0) {
            rc = ngx_http_postmark_answer_eof(&fetch->answer);

        } else {
            fetch->received += n;
            used = 0;
            rc = ngx_http_postmark_answer_parse(&fetch->answer,
                                                (char *) buf, n, &used,
                                                ngx_http_postmark_exchange_body,
                                                fetch);
            if (rc == NGX_HTTP_POSTMARK_ANSWER_DONE && used < n) {
                fetch->extra = 1;
            }
        }

        if (fetch->too_large) {
            ngx_http_postmark_exchange_fail(fetch, CURLE_WRITE_ERROR,
                                            "the answer is larger than "
                                            "allowed");
            return;
        }

        if (rc == NGX_HTTP_POSTMARK_ANSWER_DONE) {
            fetch->status = fetch->answer.status;
            ngx_http_postmark_exchange_end(fetch, CURLE_OK);
            return;
        }

        if (rc == NGX_HTTP_POSTMARK_ANSWER_ERROR) {
            ngx_http_postmark_exchange_fail(fetch,
                                            fetch->received
                                            ? CURLE_WEIRD_SERVER_REPLY
                                            : CURLE_GOT_NOTHING,
                                            fetch->answer.error);
            return;
        }
    }
}


/*
 * Why a send or a receive failed, when curl did not say: a peer that
 * ends the connection over TLS often says why in an alert, which only a
 * read finds; otherwise the system's error.
 */

static void
ngx_http_postmark_exchange_why(ngx_http_postmark_fetch_t *fetch,
    CURLcode rc, ngx_err_t err)
{
    u_char  *p, *last, byte;
    size_t   n;

    if (fetch->error[0] != '\0') {
        return;
    }

    if (rc != CURLE_RECV_ERROR) {
        (void) curl_easy_recv(fetch->conn->easy, &byte, 1, &n);

        if (fetch->error[0] != '\0') {
            return;
        }
    }

    last = (u_char *) fetch->error + CURL_ERROR_SIZE - 1;

    p = ngx_snprintf((u_char *) fetch->error, last - (u_char *) fetch->error,
                     "%s", curl_easy_strerror(rc));

    if (err) {
        p = ngx_snprintf(p, last - p, ": ");
        p = ngx_strerror(err, p, last - p);
    }

    *p = '\0';
}


static void
ngx_http_postmark_exchange_body(void *data, const char *p, size_t len)
{
    ngx_http_postmark_fetch_t  *fetch = data;

    if (fetch->response_max && !fetch->too_large) {
        (void) ngx_http_postmark_fetch_write((char *) p, 1, len, fetch);
    }
}


/*
 * A failure: on a kept connection, before any byte of the answer, the
 * destination most likely closed it meanwhile, and the forward goes once
 * more on a fresh connection.
 */

static void
ngx_http_postmark_exchange_fail(ngx_http_postmark_fetch_t *fetch,
    CURLcode result, const char *reason)
{
    ngx_msec_t  elapsed;

    if (fetch->reused && !fetch->retried && fetch->received == 0
        && fetch->conn && ngx_http_postmark_engine_running())
    {
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                       "postmark: a kept connection to \"%V\" failed, "
                       "once more on a fresh one", &fetch->dest->display);

        ngx_http_postmark_conn_close(fetch->conn);
        fetch->conn = NULL;
        fetch->reused = 0;
        fetch->retried = 1;

        ngx_http_postmark_exchange_connect(fetch);
        return;
    }

    if (reason) {
        ngx_cpystrn((u_char *) fetch->error, (u_char *) reason,
                    CURL_ERROR_SIZE);

    } else if (fetch->error[0] == '\0') {
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) curl_easy_strerror(result), CURL_ERROR_SIZE);
    }

    if (result == CURLE_OPERATION_TIMEDOUT) {
        elapsed = ngx_current_msec - fetch->started;

        ngx_snprintf((u_char *) fetch->error, CURL_ERROR_SIZE - 1,
                     "Operation timed out after %M milliseconds with %O "
                     "bytes received%Z", elapsed, fetch->received);
    }

    ngx_http_postmark_exchange_end(fetch, result);
}


static void
ngx_http_postmark_exchange_expire(ngx_event_t *ev)
{
    ngx_http_postmark_fetch_t  *fetch;

    fetch = ngx_http_postmark_event_data(ev, ngx_http_postmark_fetch_t, wait);

    fetch->retried = 1;     /* no time for another try */
    fetch->error[0] = '\0';

    ngx_http_postmark_exchange_fail(fetch, CURLE_OPERATION_TIMEDOUT, NULL);
}


/* the outcome is known: the connection is kept or closed, the fetch told */

static void
ngx_http_postmark_exchange_end(ngx_http_postmark_fetch_t *fetch,
    CURLcode result)
{
    ngx_http_postmark_conn_t  *conn;

    conn = fetch->conn;

    if (conn) {
        fetch->conn = NULL;
        conn->fetch = NULL;

        (void) curl_easy_setopt(conn->easy, CURLOPT_ERRORBUFFER, NULL);

        if (result == CURLE_OK && fetch->answer.keepalive && !fetch->extra
            && fetch->sent == fetch->head.len + fetch->body.len
            && ngx_http_postmark_engine_running() && !ngx_exiting
            && !ngx_terminate && !ngx_quit)
        {
            ngx_http_postmark_conn_keep(conn);

        } else {
            ngx_http_postmark_conn_close(conn);
        }
    }

    ngx_http_postmark_exchange_cleanup(fetch);

    fetch->result = result;

    if (result != CURLE_OK) {
        fetch->status = 0;

        if (fetch->error[0] == '\0') {
            ngx_cpystrn((u_char *) fetch->error,
                        (u_char *) curl_easy_strerror(result),
                        CURL_ERROR_SIZE);
        }
    }

    /* may destroy the pool that holds "fetch" */
    fetch->done(fetch);
}


/* what a forward holds goes back: also when its pool ends first */

static void
ngx_http_postmark_exchange_cleanup(ngx_http_postmark_fetch_t *fetch)
{
    if (fetch->conn) {
        fetch->conn->fetch = NULL;
        ngx_http_postmark_conn_close(fetch->conn);
        fetch->conn = NULL;
    }

    if (fetch->easy) {
        (void) ngx_http_postmark_engine_remove(fetch->easy);
        ngx_http_postmark_easy_put(fetch->easy);

        fetch->easy = NULL;
        fetch->connecting = 0;
    }

    if (fetch->wait.timer_set) {
        ngx_del_timer(&fetch->wait);
    }

    if (fetch->active) {
        ngx_queue_remove(&fetch->queue);
        fetch->active = 0;

        ngx_http_postmark_lane_change(fetch->lane, -1);
        ngx_http_postmark_release();

    } else if (fetch->waiting) {
        ngx_http_postmark_fetch_unwait(fetch);
        ngx_http_postmark_release();

    } else if (fetch->reserved) {
        fetch->reserved = 0;
        ngx_http_postmark_lane_unreserve(fetch->lane);
    }
}


/* the most recently kept: the least likely to have been closed */

static ngx_http_postmark_conn_t *
ngx_http_postmark_conn_take(ngx_http_postmark_dest_t *dest)
{
    ngx_queue_t               *q;
    ngx_http_postmark_conn_t  *conn;

    if (dest->idle.next == NULL || ngx_queue_empty(&dest->idle)) {
        return NULL;
    }

    q = ngx_queue_head(&dest->idle);
    conn = ngx_queue_data(q, ngx_http_postmark_conn_t, queue);

    ngx_queue_remove(&conn->queue);
    ngx_queue_remove(&conn->all);
    conn->kept = 0;
    dest->nidle--;
    ngx_http_postmark_conns.nkept--;

    if (conn->c->read->timer_set) {
        ngx_del_timer(conn->c->read);
    }

    ngx_reusable_connection(conn->c, 0);
    conn->c->idle = 0;

    return conn;
}


/*
 * Kept until the destination closes it, it is idle too long, nginx needs
 * the connection (reusable), or a graceful shutdown begins (idle).
 */

static void
ngx_http_postmark_conn_keep(ngx_http_postmark_conn_t *conn)
{
    ngx_uint_t                  max;
    ngx_queue_t                *q;
    ngx_connection_t           *c;
    ngx_http_postmark_dest_t   *dest;
    ngx_http_postmark_conns_t  *conns;

    conns = &ngx_http_postmark_conns;
    dest = conn->dest;
    c = conn->c;

    if (dest->idle.next == NULL) {
        ngx_queue_init(&dest->idle);
    }

    /* a quarter of the engine's connections at most: the oldest go */

    max = ngx_http_postmark_lanes_capacity() / 4;

    if (max == 0) {
        ngx_http_postmark_conn_close(conn);
        return;
    }

    if (dest->nidle >= NGX_HTTP_POSTMARK_KEEP_DEST) {
        q = ngx_queue_last(&dest->idle);
        ngx_http_postmark_conn_close(ngx_queue_data(q,
                                         ngx_http_postmark_conn_t, queue));
    }

    if (conns->nkept >= max) {
        q = ngx_queue_head(&conns->kept);
        ngx_http_postmark_conn_close(ngx_queue_data(q,
                                         ngx_http_postmark_conn_t, all));
    }

    ngx_queue_insert_head(&dest->idle, &conn->queue);
    ngx_queue_insert_tail(&conns->kept, &conn->all);
    conn->kept = 1;
    dest->nidle++;
    conns->nkept++;

    c->idle = 1;
    ngx_reusable_connection(c, 1);

    c->read->cancelable = 1;
    ngx_add_timer(c->read, NGX_HTTP_POSTMARK_KEEP_IDLE);
}


static void
ngx_http_postmark_conn_close(ngx_http_postmark_conn_t *conn)
{
    CURLMcode  rc;

    ngx_http_postmark_conn_unwatch(conn);

    /* curl closes the socket, and ends TLS */

    rc = ngx_http_postmark_engine_remove(conn->easy);

    if (rc != CURLM_OK) {

        /* such as from inside curl: the handle would be freed in use */

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "postmark: a connection to \"%V\" cannot leave curl: "
                      "%s", &conn->dest->display, curl_multi_strerror(rc));
        ngx_free(conn);
        return;
    }

    curl_easy_cleanup(conn->easy);

    ngx_free(conn);
}


/* nginx's side of a connection: its lists, its timer, its slot */

static void
ngx_http_postmark_conn_unwatch(ngx_http_postmark_conn_t *conn)
{
    if (conn->kept) {
        ngx_queue_remove(&conn->queue);
        ngx_queue_remove(&conn->all);
        conn->kept = 0;
        conn->dest->nidle--;
        ngx_http_postmark_conns.nkept--;
    }

    if (conn->c == NULL) {
        return;
    }

    if (conn->c->read->timer_set) {
        ngx_del_timer(conn->c->read);
    }

    ngx_reusable_connection(conn->c, 0);
    ngx_http_postmark_engine_release(conn->c);
    conn->c = NULL;
}


static void
ngx_http_postmark_conns_let_go(ngx_event_t *ev)
{
    ngx_queue_t                *q;
    ngx_http_postmark_conns_t  *conns;

    conns = &ngx_http_postmark_conns;

    while (!ngx_queue_empty(&conns->closing)) {
        q = ngx_queue_head(&conns->closing);
        ngx_queue_remove(q);

        ngx_http_postmark_conn_close(ngx_queue_data(q,
                                         ngx_http_postmark_conn_t, all));
    }
}


static void
ngx_http_postmark_conns_close(void)
{
    ngx_queue_t                *q;
    ngx_http_postmark_conns_t  *conns;

    conns = &ngx_http_postmark_conns;

    ngx_http_postmark_timer_stop(&conns->close);
    ngx_http_postmark_conns_let_go(NULL);

    while (!ngx_queue_empty(&conns->kept)) {
        q = ngx_queue_head(&conns->kept);
        ngx_http_postmark_conn_close(ngx_queue_data(q,
                                         ngx_http_postmark_conn_t, all));
    }
}
