
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The outbound engine (ngx_http_postmark_curl.c): transfers on the
 * worker's libcurl multi handle, driven by nginx's event loop, in lanes
 * that cap them; forwards on connections kept per destination.
 */

#ifndef _NGX_HTTP_POSTMARK_CURL_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_CURL_H_INCLUDED_


#include "ngx_http_postmark_module.h"
#include "ngx_http_postmark_answer.h"


/* one outbound HTTP transfer on the worker's libcurl multi handle */

typedef void (*ngx_http_postmark_fetch_done_pt)(
    ngx_http_postmark_fetch_t *fetch);

struct ngx_http_postmark_fetch_s {
    CURL                             *easy;
    ngx_pool_t                       *pool;
    ngx_queue_t                       queue;      /* in the engine or lane */
    ngx_http_postmark_lane_t         *lane;       /* Postmark's API, if set */
    ngx_msec_t                        timeout;    /* waiting for room too */
    ngx_msec_t                        queued;
    ngx_msec_t                        waited;     /* for room, in its lane */
    ngx_event_t                       wait;
    CURLcode                          setopt;     /* the first that failed */

    ngx_http_postmark_fetch_done_pt   done;
    void                             *data;

    long                              status;     /* 0 without an answer */
    CURLcode                          result;
    char                              error[CURL_ERROR_SIZE];

    /* the answer's body, when kept; up to response_max bytes */
    ngx_str_t                         response;
    size_t                            response_size;
    size_t                            response_max;

    /*
     * A forward: curl connects (name, TCP, TLS, proxy), and the request
     * and its answer are the module's own, on a connection kept per
     * destination.
     */
    ngx_http_postmark_dest_t         *dest;       /* NULL: curl's HTTP */
    ngx_http_postmark_conn_t         *conn;
    ngx_str_t                         head;
    ngx_str_t                         body;
    size_t                            sent;
    off_t                             received;
    ngx_msec_t                        started;
    ngx_http_postmark_answer_t        answer;

    unsigned                          active:1;
    unsigned                          waiting:1;
    unsigned                          reserved:1; /* room taken in its lane */
    unsigned                          lost:1;     /* no socket: ends later */
    unsigned                          head_done:1;
    unsigned                          too_large:1;
    unsigned                          cut:1;
    unsigned                          connecting:1;
    unsigned                          reused:1;   /* a kept connection */
    unsigned                          retried:1;
    unsigned                          extra:1;    /* bytes after the answer */
};


/* options are set in a row; the first failure fails the transfer */

#define ngx_http_postmark_setopt(fetch, option, value)                      \
    do {                                                                     \
        CURLcode  rc_ = curl_easy_setopt((fetch)->easy, option, value);     \
        if (rc_ != CURLE_OK && (fetch)->setopt == CURLE_OK) {                \
            (fetch)->setopt = rc_;                                           \
        }                                                                    \
    } while (0)


ngx_int_t ngx_http_postmark_engine_init(ngx_cycle_t *cycle);
void ngx_http_postmark_engine_done(ngx_cycle_t *cycle);
void ngx_http_postmark_hold(void);
void ngx_http_postmark_release(void);
void ngx_http_postmark_lane_init(ngx_http_postmark_lane_t *lane,
    ngx_uint_t max);
ngx_int_t ngx_http_postmark_lane_reserve(ngx_http_postmark_lane_t *lane);
void ngx_http_postmark_lane_unreserve(ngx_http_postmark_lane_t *lane);
ngx_http_postmark_fetch_t *ngx_http_postmark_fetch_create(ngx_pool_t *pool);
ngx_http_postmark_fetch_t *ngx_http_postmark_forward_create(ngx_pool_t *pool,
    ngx_http_postmark_dest_t *dest);
void ngx_http_postmark_fetch_keep_response(ngx_http_postmark_fetch_t *fetch,
    size_t max, ngx_uint_t cut);
ngx_int_t ngx_http_postmark_fetch_start(ngx_http_postmark_fetch_t *fetch);
time_t ngx_http_postmark_fetch_retry_after(ngx_http_postmark_fetch_t *fetch);
ngx_int_t ngx_http_postmark_header_list(ngx_pool_t *pool,
    struct curl_slist **list, char *line);


/*
 * What the engine asks of the forward exchange, set by it when the worker
 * starts (ngx_http_postmark_exchange.c): forwards are the module's own
 * HTTP/1.1 on connections curl makes and the exchange keeps.
 */

typedef struct {
    void  (*start)(ngx_http_postmark_fetch_t *fetch, ngx_msec_t timeout);
    void  (*connected)(ngx_http_postmark_fetch_t *fetch, CURLcode result);
    void  (*end)(ngx_http_postmark_fetch_t *fetch, CURLcode result);
    void  (*cleanup)(ngx_http_postmark_fetch_t *fetch);
    void  (*close_all)(void);
} ngx_http_postmark_exchange_t;

void ngx_http_postmark_engine_exchange(ngx_http_postmark_exchange_t *exchange);
void ngx_http_postmark_exchange_init(ngx_cycle_t *cycle);

/* what the engine lends the exchange and curl's own calls */
ngx_http_postmark_fetch_t *ngx_http_postmark_fetch_alloc(ngx_pool_t *pool);
CURL *ngx_http_postmark_easy_get(void);
void ngx_http_postmark_easy_put(CURL *easy);
CURLMcode ngx_http_postmark_engine_add(CURL *easy);
CURLMcode ngx_http_postmark_engine_remove(CURL *easy);
ngx_uint_t ngx_http_postmark_engine_running(void);
ngx_uint_t ngx_http_postmark_engine_reclaimed(ngx_connection_t *c);
void ngx_http_postmark_engine_release(ngx_connection_t *c);
void ngx_http_postmark_fetch_lost(ngx_http_postmark_fetch_t *fetch,
    const char *reason);
size_t ngx_http_postmark_fetch_write(char *ptr, size_t size, size_t nmemb,
    void *userdata);


/* room for transfers (ngx_http_postmark_lane.c), the engine's to give */

typedef void (*ngx_http_postmark_admit_pt)(ngx_http_postmark_fetch_t *fetch);

void ngx_http_postmark_lanes_init(ngx_uint_t capacity,
    ngx_http_postmark_admit_pt admit, ngx_log_t *log);
void ngx_http_postmark_lanes_close(void);
ngx_http_postmark_lane_t *ngx_http_postmark_lanes_api(void);
ngx_uint_t ngx_http_postmark_lanes_capacity(void);
ngx_uint_t ngx_http_postmark_lanes_transfers(void);
ngx_uint_t ngx_http_postmark_lane_room(ngx_http_postmark_lane_t *lane);
void ngx_http_postmark_lane_change(ngx_http_postmark_lane_t *lane,
    ngx_int_t transfers);
void ngx_http_postmark_lane_take(ngx_http_postmark_fetch_t *fetch);
void ngx_http_postmark_lane_wait(ngx_http_postmark_fetch_t *fetch);
void ngx_http_postmark_fetch_unwait(ngx_http_postmark_fetch_t *fetch);
ngx_http_postmark_fetch_t *ngx_http_postmark_lanes_unwait(void);
void ngx_http_postmark_lane_why(ngx_http_postmark_fetch_t *fetch);


#endif /* _NGX_HTTP_POSTMARK_CURL_H_INCLUDED_ */
