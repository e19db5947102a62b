
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * All outbound HTTP of a worker goes through one libcurl multi handle that
 * nginx's event loop drives: curl's sockets are watched as nginx events and
 * curl's timer is an nginx timer.  curl owns its sockets; nginx only lends
 * connection structures to watch them, and never closes them.
 *
 * The engine decides itself how many transfers run, not curl: curl's own
 * queue lets a queued transfer outlive its timeout.  Each destination is a
 * lane; a lane gets at most its own cap (a spooled forward's
 * max_concurrent) and a fair share of the worker's forwards, so that a
 * client whose endpoints hang cannot take every connection.  Calls to
 * Postmark's API have a lane of their own with room kept for it.  A
 * transfer that must wait does so here, within its own timeout.
 */


#include "ngx_http_postmark_curl.h"


#define NGX_HTTP_POSTMARK_IDLE_HANDLES  64
#define NGX_HTTP_POSTMARK_HOLD          (24 * 60 * 60 * 1000)


typedef struct {
    CURLM                      *multi;
    ngx_event_t                 timer;
    ngx_queue_t                 active;     /* fetches under way */

    /* transfers curl could not give a socket to: ended when posted */
    ngx_queue_t                 failed;
    ngx_event_t                 reap;

    /* the worker stays while someone holds it, as for a timer */
    ngx_uint_t                  holds;
    ngx_event_t                 hold;

    /* nginx tells an idle connection that a graceful shutdown began */
    ngx_connection_t           *notify;
    ngx_event_t                 abort;      /* at worker_shutdown_timeout */
    unsigned                    shutdown:1;

    /* easy handles are kept for reuse: each holds a 16K buffer */
    CURL                       *idle[NGX_HTTP_POSTMARK_IDLE_HANDLES];
    ngx_uint_t                  nidle;

    /* what forwards are, on connections kept per destination */
    ngx_http_postmark_exchange_t  *exchange;
} ngx_http_postmark_engine_t;


static ngx_int_t ngx_http_postmark_engine_notify(ngx_cycle_t *cycle);
static void ngx_http_postmark_engine_exiting(ngx_event_t *ev);
static void ngx_http_postmark_engine_abort(ngx_event_t *ev);
static void ngx_http_postmark_engine_stop(const char *reason,
    CURLcode result);
static void ngx_http_postmark_engine_hold_timer(ngx_event_t *ev);
static void ngx_http_postmark_engine_shut(void);
static void ngx_http_postmark_fetch_admit(ngx_http_postmark_fetch_t *fetch);
static void ngx_http_postmark_fetch_expire(ngx_event_t *ev);
static int ngx_http_postmark_engine_socket(CURL *easy, curl_socket_t s,
    int what, void *userp, void *socketp);
static ngx_int_t ngx_http_postmark_engine_watch(ngx_connection_t *c,
    int what);
static void ngx_http_postmark_engine_lost(CURL *easy, const char *reason);
static void ngx_http_postmark_engine_reap(ngx_event_t *ev);
static int ngx_http_postmark_engine_timer(CURLM *multi, long timeout_ms,
    void *userp);
static void ngx_http_postmark_engine_event(ngx_event_t *ev);
static void ngx_http_postmark_engine_timeout(ngx_event_t *ev);
static void ngx_http_postmark_engine_perform(curl_socket_t s, int mask);
static void ngx_http_postmark_engine_drain(void);
static void ngx_http_postmark_engine_finish(ngx_http_postmark_fetch_t *fetch,
    CURLcode result);
static void ngx_http_postmark_fetch_end(ngx_http_postmark_fetch_t *fetch);
static void ngx_http_postmark_fetch_cleanup(void *data);


/* process-wide: one engine per worker, created in init_process */
static ngx_http_postmark_engine_t  ngx_http_postmark_engine;


ngx_int_t
ngx_http_postmark_engine_init(ngx_cycle_t *cycle)
{
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
     * Every curl socket takes an nginx connection, and so does every
     * request waiting for its forwards: transfers get half of them, and
     * of those, calls to Postmark's API keep an eighth for themselves.
     */

    ecf = ngx_event_get_conf(cycle->conf_ctx, ngx_event_core_module);

    ngx_http_postmark_lanes_init(ngx_max(ecf->connections / 2, 2),
                                 ngx_http_postmark_fetch_admit, cycle->log);

    curl_multi_setopt(engine->multi, CURLMOPT_SOCKETFUNCTION,
                      ngx_http_postmark_engine_socket);
    curl_multi_setopt(engine->multi, CURLMOPT_TIMERFUNCTION,
                      ngx_http_postmark_engine_timer);
    curl_multi_setopt(engine->multi, CURLMOPT_MAXCONNECTS,
                      (long) ngx_http_postmark_lanes_capacity());

    ngx_queue_init(&engine->active);
    ngx_queue_init(&engine->failed);

    ngx_http_postmark_timer_init(&engine->timer,
                                 ngx_http_postmark_engine_timeout, cycle->log);
    ngx_http_postmark_timer_init(&engine->reap,
                                 ngx_http_postmark_engine_reap, cycle->log);
    ngx_http_postmark_timer_init(&engine->abort,
                                 ngx_http_postmark_engine_abort, cycle->log);
    ngx_http_postmark_timer_init(&engine->hold,
                                 ngx_http_postmark_engine_hold_timer,
                                 cycle->log);

    /* what holds the worker must outlast a graceful shutdown */
    engine->hold.cancelable = 0;

    return ngx_http_postmark_engine_notify(cycle);
}


/*
 * An idle connection, never watched: nginx calls its read handler when a
 * graceful shutdown begins (ngx_close_idle_connections()), which is the
 * moment worker_shutdown_timeout starts to run.
 */

static ngx_int_t
ngx_http_postmark_engine_notify(ngx_cycle_t *cycle)
{
    ngx_socket_t       s;
    ngx_connection_t  *c;

    s = ngx_socket(AF_UNIX, SOCK_DGRAM, 0);

    if (s == (ngx_socket_t) -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_socket_errno,
                      "postmark: " ngx_socket_n " failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(s, cycle->log);
    if (c == NULL) {
        (void) ngx_close_socket(s);
        return NGX_ERROR;
    }

    c->idle = 1;
    c->read->handler = ngx_http_postmark_engine_exiting;
    c->read->log = cycle->log;
    c->write->log = cycle->log;

    ngx_http_postmark_engine.notify = c;

    return NGX_OK;
}


static void
ngx_http_postmark_engine_exiting(ngx_event_t *ev)
{
    ngx_msec_t                   timeout, early;
    ngx_core_conf_t             *ccf;
    ngx_connection_t            *c;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;
    c = ev->data;

    engine->notify = NULL;
    ngx_close_connection(c);

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);
    timeout = ccf->shutdown_timeout;

    if (timeout == 0) {
        return;     /* transfers end within their own timeouts */
    }

    /*
     * Just before nginx closes every connection: requests still waiting
     * for their forwards are answered first, 503 to Postmark and 504 to a
     * portal, instead of being cut off without an answer.
     */

    early = ngx_max(ngx_min(timeout / 10, 100), 1);

    ngx_add_timer(&engine->abort, timeout > early ? timeout - early : 0);
}


static void
ngx_http_postmark_engine_abort(ngx_event_t *ev)
{
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "postmark: worker_shutdown_timeout: ending %ui transfers "
                  "still under way", ngx_http_postmark_lanes_transfers());

    ngx_http_postmark_engine_shut();

    ngx_http_postmark_engine_stop("the worker is shutting down "
                                  "(worker_shutdown_timeout)",
                                  CURLE_OPERATION_TIMEDOUT);

    /* nothing may keep the worker any longer */

    if (engine->hold.timer_set) {
        ngx_del_timer(&engine->hold);
    }
}


/*
 * At worker exit, transfers still running end as failures, so that their
 * requests are answered (503, and Postmark retries) and their memory freed.
 */

void
ngx_http_postmark_engine_done(ngx_cycle_t *cycle)
{
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (engine->multi == NULL) {
        return;
    }

    ngx_http_postmark_engine_shut();

    ngx_http_postmark_engine_stop("worker is exiting",
                                  CURLE_ABORTED_BY_CALLBACK);

    if (engine->exchange) {
        engine->exchange->close_all();
    }

    curl_multi_cleanup(engine->multi);
    engine->multi = NULL;

    while (engine->nidle) {
        curl_easy_cleanup(engine->idle[--engine->nidle]);
    }

    if (engine->notify) {
        ngx_close_connection(engine->notify);
        engine->notify = NULL;
    }

    ngx_http_postmark_timer_stop(&engine->timer);
    ngx_http_postmark_timer_stop(&engine->reap);
    ngx_http_postmark_timer_stop(&engine->abort);
    ngx_http_postmark_timer_stop(&engine->hold);
}


/* every transfer, running or waiting for room, ends with "reason" */

static void
ngx_http_postmark_engine_stop(const char *reason, CURLcode result)
{
    ngx_queue_t                 *q;
    ngx_http_postmark_fetch_t   *fetch;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    ngx_http_postmark_engine_reap(NULL);

    while (!ngx_queue_empty(&engine->active)) {
        q = ngx_queue_head(&engine->active);
        fetch = ngx_queue_data(q, ngx_http_postmark_fetch_t, queue);

        ngx_cpystrn((u_char *) fetch->error, (u_char *) reason,
                    CURL_ERROR_SIZE);
        ngx_http_postmark_engine_finish(fetch, result);
    }

    while ((fetch = ngx_http_postmark_lanes_unwait()) != NULL) {
        ngx_http_postmark_release();

        ngx_cpystrn((u_char *) fetch->error, (u_char *) reason,
                    CURL_ERROR_SIZE);
        fetch->result = result;
        fetch->done(fetch);
    }
}


/*
 * A graceful shutdown waits for what holds the worker, as it waits for
 * timers: transfers, and requests waiting for the spool.
 */

void
ngx_http_postmark_hold(void)
{
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (engine->holds++ == 0 && !engine->shutdown) {
        ngx_add_timer(&engine->hold, NGX_HTTP_POSTMARK_HOLD);
    }
}


void
ngx_http_postmark_release(void)
{
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (--engine->holds == 0 && engine->hold.timer_set) {
        ngx_del_timer(&engine->hold);
    }
}


static void
ngx_http_postmark_engine_hold_timer(ngx_event_t *ev)
{
    if (ngx_http_postmark_engine.holds && !ngx_http_postmark_engine.shutdown)
    {
        ngx_add_timer(ev, NGX_HTTP_POSTMARK_HOLD);
    }
}


/*
 * Easy handles are kept for reuse, each with its 16K buffer: taken reset,
 * or new; given back out of the multi handle.
 */

CURL *
ngx_http_postmark_easy_get(void)
{
    CURL                        *easy;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (engine->nidle == 0) {
        return curl_easy_init();
    }

    easy = engine->idle[--engine->nidle];
    curl_easy_reset(easy);

    return easy;
}


void
ngx_http_postmark_easy_put(CURL *easy)
{
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (engine->multi && engine->nidle < NGX_HTTP_POSTMARK_IDLE_HANDLES) {
        engine->idle[engine->nidle++] = easy;
        return;
    }

    curl_easy_cleanup(easy);
}


/* the exchange's way into the multi handle, which it shares */

CURLMcode
ngx_http_postmark_engine_add(CURL *easy)
{
    return curl_multi_add_handle(ngx_http_postmark_engine.multi, easy);
}


CURLMcode
ngx_http_postmark_engine_remove(CURL *easy)
{
    return curl_multi_remove_handle(ngx_http_postmark_engine.multi, easy);
}


/* no transfer starts any more, nor does any wait for room */

static void
ngx_http_postmark_engine_shut(void)
{
    ngx_http_postmark_engine.shutdown = 1;
    ngx_http_postmark_lanes_close();
}


/* transfers may start, and connections be kept */

ngx_uint_t
ngx_http_postmark_engine_running(void)
{
    return ngx_http_postmark_engine.multi && !ngx_http_postmark_engine.shutdown;
}


/* set by the forward exchange when the worker starts */

void
ngx_http_postmark_engine_exchange(ngx_http_postmark_exchange_t *exchange)
{
    ngx_http_postmark_engine.exchange = exchange;
}


ngx_http_postmark_fetch_t *
ngx_http_postmark_fetch_alloc(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_postmark_fetch_t  *fetch;

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

    ngx_http_postmark_timer_init(&fetch->wait,
                                 ngx_http_postmark_fetch_expire,
                                 ngx_cycle->log);

    return fetch;
}


/*
 * Starts the transfer, or queues it in its lane until there is room, for
 * no longer than its timeout: NGX_OK when fetch->done will be called.
 */

ngx_int_t
ngx_http_postmark_fetch_start(ngx_http_postmark_fetch_t *fetch)
{
    ngx_http_postmark_lane_t  *lane;

    lane = fetch->lane;

    if (!ngx_http_postmark_engine_running()) {
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) "outbound HTTP is not running in this process",
                    CURL_ERROR_SIZE);
        goto failed;
    }

    if (fetch->setopt != CURLE_OK) {
        ngx_snprintf((u_char *) fetch->error, CURL_ERROR_SIZE - 1,
                     "curl_easy_setopt() failed: %s%Z",
                     curl_easy_strerror(fetch->setopt));
        goto failed;
    }

    fetch->queued = ngx_current_msec;
    ngx_http_postmark_hold();

    if (fetch->reserved || ngx_http_postmark_lane_room(lane)) {
        ngx_http_postmark_fetch_admit(fetch);
        return NGX_OK;
    }

    ngx_http_postmark_lane_wait(fetch);

    return NGX_OK;

failed:

    if (fetch->reserved) {
        fetch->reserved = 0;
        ngx_http_postmark_lane_unreserve(lane);
    }

    return NGX_ERROR;
}


/* "timeout" bounds the whole wait: what is left of it goes to curl */

static void
ngx_http_postmark_fetch_admit(ngx_http_postmark_fetch_t *fetch)
{
    CURLMcode                    rc;
    ngx_msec_t                   waited;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    waited = ngx_current_msec - fetch->queued;
    fetch->waited = waited;

    ngx_http_postmark_lane_take(fetch);

    ngx_queue_insert_tail(&engine->active, &fetch->queue);
    fetch->active = 1;

    if (fetch->dest) {
        engine->exchange->start(fetch, fetch->timeout > waited
                                       ? fetch->timeout - waited : 1);
        return;
    }

    (void) curl_easy_setopt(fetch->easy, CURLOPT_TIMEOUT_MS,
                            (long) (fetch->timeout > waited
                                    ? fetch->timeout - waited : 1));

    /* curl asks for a 0 ms timer here; the transfer starts when it fires */

    rc = curl_multi_add_handle(engine->multi, fetch->easy);

    if (rc != CURLM_OK) {
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) curl_multi_strerror(rc), CURL_ERROR_SIZE);

        /* reported as any other failure, from the event loop */

        ngx_http_postmark_engine_lost(fetch->easy, NULL);
    }
}


static void
ngx_http_postmark_fetch_expire(ngx_event_t *ev)
{
    ngx_http_postmark_fetch_t  *fetch;

    fetch = ngx_http_postmark_event_data(ev, ngx_http_postmark_fetch_t, wait);

    ngx_http_postmark_fetch_unwait(fetch);
    ngx_http_postmark_release();

    ngx_http_postmark_lane_why(fetch);

    fetch->result = CURLE_OPERATION_TIMEDOUT;
    fetch->done(fetch);
}


static int
ngx_http_postmark_engine_socket(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp)
{
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
            ngx_http_postmark_engine_lost(easy, "no free connection: all "
                                          "worker_connections are in use");
            return 0;
        }

        c->read->log = ngx_cycle->log;
        c->write->log = ngx_cycle->log;
        c->read->handler = ngx_http_postmark_engine_event;
        c->write->handler = ngx_http_postmark_engine_event;

        curl_multi_assign(ngx_http_postmark_engine.multi, s, c);
    }

    if (ngx_http_postmark_engine_watch(c, what) != NGX_OK) {
        ngx_http_postmark_engine_lost(easy, "its socket cannot be watched");
    }

    return 0;
}


/*
 * level-triggered: curl may leave data in a socket after one call, and
 * an edge-triggered socket would then never be reported again
 */

static ngx_int_t
ngx_http_postmark_engine_watch(ngx_connection_t *c, int what)
{
    ngx_event_t  *rev, *wev;

    rev = c->read;
    wev = c->write;

    if ((what & CURL_POLL_IN) && !rev->active) {
        if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!(what & CURL_POLL_IN) && rev->active) {
        if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if ((what & CURL_POLL_OUT) && !wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!(what & CURL_POLL_OUT) && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A transfer whose socket cannot be watched fails alone: returning an
 * error to curl would end every transfer of the multi handle.  It ends
 * from a posted event, as curl may not be called from its callbacks.
 */

static void
ngx_http_postmark_engine_lost(CURL *easy, const char *reason)
{
    ngx_http_postmark_fetch_t  *fetch;

    fetch = NULL;

    (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &fetch);

    if (fetch == NULL || !fetch->active) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "postmark: a socket of curl's own cannot be watched: "
                      "%s", reason ? reason : "");
        return;
    }

    ngx_http_postmark_fetch_lost(fetch, reason);
}


void
ngx_http_postmark_fetch_lost(ngx_http_postmark_fetch_t *fetch,
    const char *reason)
{
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    if (fetch->lost) {
        return;
    }

    if (reason) {
        ngx_cpystrn((u_char *) fetch->error, (u_char *) reason,
                    CURL_ERROR_SIZE);
    }

    fetch->lost = 1;
    ngx_queue_remove(&fetch->queue);
    ngx_queue_insert_tail(&engine->failed, &fetch->queue);

    if (!engine->reap.posted) {
        ngx_post_event(&engine->reap, &ngx_posted_events);
    }
}


static void
ngx_http_postmark_engine_reap(ngx_event_t *ev)
{
    ngx_queue_t                 *q;
    ngx_http_postmark_fetch_t   *fetch;
    ngx_http_postmark_engine_t  *engine;

    engine = &ngx_http_postmark_engine;

    while (!ngx_queue_empty(&engine->failed)) {
        q = ngx_queue_head(&engine->failed);
        fetch = ngx_queue_data(q, ngx_http_postmark_fetch_t, queue);

        /* its owner logs the failure, with what it was for */

        ngx_http_postmark_engine_finish(fetch, CURLE_COULDNT_CONNECT);
    }
}


/* ngx_close_connection() without the close(): the socket is curl's */

void
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


/*
 * nginx's worker_shutdown_timeout closes every connection it finds: every
 * transfer still running ends, as one cut short.
 */

ngx_uint_t
ngx_http_postmark_engine_reclaimed(ngx_connection_t *c)
{
    if (!c->close) {
        return 0;
    }

    ngx_http_postmark_engine_shut();
    ngx_http_postmark_engine_stop("the worker is shutting down "
                                  "(worker_shutdown_timeout)",
                                  CURLE_OPERATION_TIMEDOUT);
    return 1;
}


static void
ngx_http_postmark_engine_event(ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = ev->data;

    if (ngx_http_postmark_engine_reclaimed(c)) {
        return;
    }

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

        /* a transfer that failed to start has ended already */

        if (fetch && fetch->active && !fetch->lost) {
            if (fetch->connecting) {
                ngx_http_postmark_engine.exchange->connected(fetch, result);

            } else {
                ngx_http_postmark_engine_finish(fetch, result);
            }
        }
    }
}


/*
 * Only an answer whose head arrived whole is an answer: curl 7.88 reports
 * success for one cut inside its headers.
 */

static void
ngx_http_postmark_engine_finish(ngx_http_postmark_fetch_t *fetch,
    CURLcode result)
{
    if (fetch->dest) {
        ngx_http_postmark_engine.exchange->end(fetch, result);
        return;
    }

    curl_easy_getinfo(fetch->easy, CURLINFO_RESPONSE_CODE, &fetch->status);

    if (result == CURLE_OK && !fetch->head_done) {
        result = CURLE_WEIRD_SERVER_REPLY;
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) "the answer ended inside its head",
                    CURL_ERROR_SIZE);
        fetch->status = 0;
    }

    ngx_http_postmark_fetch_end(fetch);

    fetch->result = result;

    if (result != CURLE_OK && fetch->error[0] == '\0') {
        ngx_cpystrn((u_char *) fetch->error,
                    (u_char *) curl_easy_strerror(result), CURL_ERROR_SIZE);
    }

    /* may destroy the pool that holds "fetch" */
    fetch->done(fetch);
}


/* the transfer leaves the multi handle and gives its room back */

static void
ngx_http_postmark_fetch_end(ngx_http_postmark_fetch_t *fetch)
{
    curl_multi_remove_handle(ngx_http_postmark_engine.multi, fetch->easy);

    ngx_queue_remove(&fetch->queue);
    fetch->active = 0;

    ngx_http_postmark_lane_change(fetch->lane, -1);
    ngx_http_postmark_release();
}


/* the pool ends first: the transfer ends with it, without telling anyone */

static void
ngx_http_postmark_fetch_cleanup(void *data)
{
    ngx_http_postmark_fetch_t  *fetch = data;

    if (fetch->dest) {
        ngx_http_postmark_engine.exchange->cleanup(fetch);
        return;
    }

    if (fetch->easy == NULL) {
        return;
    }

    if (fetch->active) {
        ngx_http_postmark_fetch_end(fetch);

    } else if (fetch->waiting) {
        ngx_http_postmark_fetch_unwait(fetch);
        ngx_http_postmark_release();

    } else if (fetch->reserved) {
        ngx_http_postmark_lane_unreserve(fetch->lane);
    }

    ngx_http_postmark_easy_put(fetch->easy);
}


