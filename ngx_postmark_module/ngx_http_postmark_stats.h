
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * What all workers count together (ngx_http_postmark_stats.c): one shared
 * zone, sized from the configuration, with a slot per client and per
 * destination that the configuration binds when it is loaded.  Counters
 * are added to without a lock, and so are a destination's attempts under
 * way, held to its max_concurrent, and its circuit breaker, changed only
 * by compare-and-swap.  What one worker has (its share of the attempts
 * under way, its pending deliveries) it also writes to a row of its own,
 * so that what a killed worker had can be taken back.
 */

#ifndef _NGX_HTTP_POSTMARK_STATS_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_STATS_H_INCLUDED_


#include "ngx_http_postmark_module.h"


/* outcomes of a webhook request of a known client ($postmark_outcome) */

#define NGX_HTTP_POSTMARK_W_FORWARDED      0
#define NGX_HTTP_POSTMARK_W_SPOOLED        1
#define NGX_HTTP_POSTMARK_W_UNMATCHED      2
#define NGX_HTTP_POSTMARK_W_REJECTED       3
#define NGX_HTTP_POSTMARK_W_TOO_LARGE      4
#define NGX_HTTP_POSTMARK_W_FAILED         5
#define NGX_HTTP_POSTMARK_W_N              6

/* outcomes of a portal call */

#define NGX_HTTP_POSTMARK_P_PROXIED        0
#define NGX_HTTP_POSTMARK_P_REFUSED        1
#define NGX_HTTP_POSTMARK_P_UPSTREAM       2
#define NGX_HTTP_POSTMARK_P_UNAUTHORIZED   3
#define NGX_HTTP_POSTMARK_P_N              4

/* webhook requests refused before a client is known */

#define NGX_HTTP_POSTMARK_R_UNAUTHORIZED   0
#define NGX_HTTP_POSTMARK_R_METHOD         1
#define NGX_HTTP_POSTMARK_R_TOO_LARGE      2
#define NGX_HTTP_POSTMARK_R_N              3

/* Postmark's record types, and the rest */

#define NGX_HTTP_POSTMARK_T_N              8

/* final outcomes of an event for a destination */

#define NGX_HTTP_POSTMARK_D_DELIVERED      0
#define NGX_HTTP_POSTMARK_D_FAILED         1
#define NGX_HTTP_POSTMARK_D_DEAD           2
#define NGX_HTTP_POSTMARK_D_N              3

/* results of one attempt */

#define NGX_HTTP_POSTMARK_A_2XX            0
#define NGX_HTTP_POSTMARK_A_3XX            1
#define NGX_HTTP_POSTMARK_A_4XX            2
#define NGX_HTTP_POSTMARK_A_5XX            3
#define NGX_HTTP_POSTMARK_A_TIMEOUT        4
#define NGX_HTTP_POSTMARK_A_CONNECT        5
#define NGX_HTTP_POSTMARK_A_TLS            6
#define NGX_HTTP_POSTMARK_A_ERROR          7
#define NGX_HTTP_POSTMARK_A_N              8

/* an attempt's duration: the upper bounds of the buckets, in ms, +Inf */

#define NGX_HTTP_POSTMARK_BUCKETS          10

/* the last failed attempts of a destination, for its client's view */

#define NGX_HTTP_POSTMARK_FAILURES         5
#define NGX_HTTP_POSTMARK_FAILURE_TEXT     112


typedef struct {
    ngx_atomic_t                  at;             /* 0: being written */
    ngx_atomic_t                  status;
    ngx_atomic_t                  result;
    u_char                        text[NGX_HTTP_POSTMARK_FAILURE_TEXT];
} ngx_http_postmark_failure_t;


typedef struct {
    ngx_atomic_t                  webhook[NGX_HTTP_POSTMARK_W_N];
    ngx_atomic_t                  portal[NGX_HTTP_POSTMARK_P_N];
    ngx_atomic_t                  events[NGX_HTTP_POSTMARK_T_N];
    ngx_atomic_t                  last_event;     /* Unix time, 0: never */
} ngx_http_postmark_cstat_t;


typedef struct {
    ngx_atomic_t                  deliveries[NGX_HTTP_POSTMARK_D_N];
    ngx_atomic_t                  attempts[NGX_HTTP_POSTMARK_A_N];
    ngx_atomic_t                  duration[NGX_HTTP_POSTMARK_BUCKETS];
    ngx_atomic_t                  duration_ms;    /* their sum */
    ngx_atomic_t                  retries;
    ngx_atomic_t                  sent_bytes;
    ngx_atomic_t                  failures_next;
    ngx_http_postmark_failure_t   failures[NGX_HTTP_POSTMARK_FAILURES];

    /* of every worker, now */
    ngx_atomic_t                  in_flight;
    ngx_atomic_t                  breaker;        /* until << 2 | state */
    ngx_atomic_t                  breaker_wait;   /* ms, of the last open */
    ngx_atomic_t                  failed_in_a_row;
    ngx_atomic_t                  paused_until;   /* after a Retry-After */
    ngx_atomic_t                  gone;           /* 410: its generation */
} ngx_http_postmark_dstat_t;


/* what one worker has of a destination right now */

typedef struct {
    ngx_atomic_t                  in_flight;
    ngx_atomic_t                  pending;
    ngx_atomic_t                  oldest;         /* ms since the epoch */
} ngx_http_postmark_row_t;


/* the zone's own figures */

typedef struct {
    ngx_atomic_t                  rejected[NGX_HTTP_POSTMARK_R_N];

    /* the spool: its size when last scanned, what was written since */
    ngx_atomic_t                  spool_bytes;
    ngx_atomic_t                  spool_written;
    ngx_atomic_t                  spool_written_at_scan;
    ngx_atomic_t                  spool_segments;
    ngx_atomic_t                  dead_letters;
    ngx_uint_t                    generation;
    time_t                        loaded;
    size_t                        size;
} ngx_http_postmark_totals_t;


extern const char  *ngx_http_postmark_webhook_outcomes[];
extern const char  *ngx_http_postmark_portal_outcomes[];
extern const char  *ngx_http_postmark_rejections[];
extern const char  *ngx_http_postmark_record_types[];
extern const char  *ngx_http_postmark_delivery_outcomes[];
extern const char  *ngx_http_postmark_attempt_results[];
extern const ngx_msec_t  ngx_http_postmark_buckets[];


char *ngx_http_postmark_stats_zone(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
void ngx_http_postmark_stats_commit(ngx_cycle_t *cycle);
void ngx_http_postmark_stats_start(ngx_cycle_t *cycle);
void ngx_http_postmark_stats_stop(void);
ngx_http_postmark_totals_t *ngx_http_postmark_stats_totals(void);
ngx_http_postmark_cstat_t *ngx_http_postmark_stats_client(
    ngx_http_postmark_client_t *client);
ngx_http_postmark_dstat_t *ngx_http_postmark_stats_dest(
    ngx_http_postmark_dest_t *dest);
void ngx_http_postmark_stats_sum(ngx_http_postmark_dest_t *dest,
    ngx_uint_t *in_flight, ngx_uint_t *pending, ngx_uint_t *breaker);

void ngx_http_postmark_stats_request(ngx_http_postmark_client_t *client,
    ngx_uint_t portal, ngx_str_t *outcome, ngx_str_t *event);
void ngx_http_postmark_stats_attempt(ngx_http_postmark_dest_t *dest,
    long status, ngx_int_t result, ngx_msec_t elapsed, size_t sent,
    const char *reason, ngx_str_t *answer);
void ngx_http_postmark_stats_delivery(ngx_http_postmark_dest_t *dest,
    ngx_uint_t outcome);
void ngx_http_postmark_stats_retry(ngx_http_postmark_dest_t *dest);
ngx_uint_t ngx_http_postmark_stats_enter(ngx_http_postmark_dest_t *dest,
    ngx_uint_t max);
void ngx_http_postmark_stats_leave(ngx_http_postmark_dest_t *dest);
ngx_uint_t ngx_http_postmark_stats_full(ngx_http_postmark_dest_t *dest,
    ngx_uint_t max);
void ngx_http_postmark_stats_backlog(ngx_http_postmark_dest_t *dest,
    ngx_uint_t pending);
void ngx_http_postmark_stats_oldest(ngx_http_postmark_dest_t *dest,
    uint64_t created);
ngx_uint_t ngx_http_postmark_stats_oldest_age(
    ngx_http_postmark_dest_t *dest);
ngx_int_t ngx_http_postmark_breaker_admit(ngx_http_postmark_dest_t *dest,
    ngx_msec_t probe, ngx_msec_t *wait);
ngx_uint_t ngx_http_postmark_breaker_passed(ngx_http_postmark_dest_t *dest);
ngx_msec_t ngx_http_postmark_breaker_failed(ngx_http_postmark_dest_t *dest,
    ngx_uint_t probe, ngx_uint_t *failures);
ngx_uint_t ngx_http_postmark_breaker_state(ngx_http_postmark_dest_t *dest,
    ngx_uint_t *failures);
void ngx_http_postmark_stats_pause(ngx_http_postmark_dest_t *dest,
    ngx_msec_t pause);
ngx_msec_t ngx_http_postmark_stats_paused(ngx_http_postmark_dest_t *dest);
void ngx_http_postmark_stats_gone(ngx_http_postmark_dest_t *dest);
ngx_uint_t ngx_http_postmark_stats_is_gone(ngx_http_postmark_dest_t *dest);
void ngx_http_postmark_stats_spool(off_t bytes, ngx_uint_t segments,
    ngx_uint_t dead, ngx_atomic_uint_t mark);
ngx_atomic_uint_t ngx_http_postmark_stats_spool_mark(void);
ngx_uint_t ngx_http_postmark_stats_spool_take(off_t size, off_t max);
off_t ngx_http_postmark_stats_spool_size(void);


#endif /* _NGX_HTTP_POSTMARK_STATS_H_INCLUDED_ */
