
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Room for transfers.  A worker runs as many transfers at once as it has
 * room for, half of its connections: calls to Postmark's API keep an
 * eighth of them, and destinations share the rest fairly, each also under
 * its own max_concurrent, which holds for all workers together: the
 * shared zone counts every worker's attempts.  A transfer without room
 * waits in its lane, for no longer than its timeout; lanes get freed room
 * in turn, one transfer each, and a lane with a "wake" (a spooled
 * destination's outbox) is told so that it starts one.  Room that another
 * worker frees is not announced: a lane that waits for it looks again
 * every few milliseconds.
 */


#include "ngx_http_postmark_curl.h"
#include "ngx_http_postmark_stats.h"


/* how often a lane held back by the other workers' attempts looks again */

#define NGX_HTTP_POSTMARK_LANE_POLL   20


typedef struct {
    ngx_uint_t                  capacity;   /* transfers at once */
    ngx_uint_t                  forwards_max;
    ngx_uint_t                  transfers;  /* under way or reserved */
    ngx_uint_t                  forwards;   /* of them, to destinations */
    ngx_uint_t                  busy;       /* lanes with work */
    ngx_queue_t                 blocked;    /* lanes waiting for room */
    ngx_http_postmark_lane_t    api;
    ngx_event_t                 next;       /* posted when room frees */
    ngx_event_t                 poll;       /* room other workers free */
    ngx_http_postmark_admit_pt  admit;      /* NULL: closed */
} ngx_http_postmark_lanes_t;


static void ngx_http_postmark_lane_count(ngx_http_postmark_lane_t *lane,
    ngx_int_t transfers);
static void ngx_http_postmark_lane_block(ngx_http_postmark_lane_t *lane);
static void ngx_http_postmark_lanes_next(ngx_event_t *ev);


/* process-wide: the worker's room */
static ngx_http_postmark_lanes_t  ngx_http_postmark_lanes;


/* "admit" starts a transfer that got room after waiting for it */

void
ngx_http_postmark_lanes_init(ngx_uint_t capacity,
    ngx_http_postmark_admit_pt admit, ngx_log_t *log)
{
    ngx_http_postmark_lanes_t  *lanes;

    lanes = &ngx_http_postmark_lanes;

    lanes->capacity = capacity;
    lanes->forwards_max = capacity - ngx_max(capacity / 8, 1);
    lanes->admit = admit;

    ngx_queue_init(&lanes->blocked);

    ngx_http_postmark_lane_init(&lanes->api, 0);
    lanes->api.api = 1;

    ngx_http_postmark_timer_init(&lanes->next, ngx_http_postmark_lanes_next,
                                 log);
    ngx_http_postmark_timer_init(&lanes->poll, ngx_http_postmark_lanes_next,
                                 log);
}


/* at shutdown: no room any more, and no one is told of any */

void
ngx_http_postmark_lanes_close(void)
{
    ngx_http_postmark_lanes.admit = NULL;
    ngx_http_postmark_timer_stop(&ngx_http_postmark_lanes.next);
    ngx_http_postmark_timer_stop(&ngx_http_postmark_lanes.poll);
}


/* the lane of calls to Postmark's API */

ngx_http_postmark_lane_t *
ngx_http_postmark_lanes_api(void)
{
    return &ngx_http_postmark_lanes.api;
}


ngx_uint_t
ngx_http_postmark_lanes_capacity(void)
{
    return ngx_http_postmark_lanes.capacity;
}


ngx_uint_t
ngx_http_postmark_lanes_transfers(void)
{
    return ngx_http_postmark_lanes.transfers;
}


void
ngx_http_postmark_lane_init(ngx_http_postmark_lane_t *lane, ngx_uint_t max)
{
    ngx_memzero(lane, sizeof(ngx_http_postmark_lane_t));

    ngx_queue_init(&lane->waiting);
    lane->max = max;
}


/*
 * Whether a lane may start one more transfer: below its own cap (of all
 * workers: a hint here, the place is taken by lane_reserve()), and for a
 * destination, below a fair share of the forwards, counted as if one more
 * lane were busy so that a newcomer always finds room.
 */

ngx_uint_t
ngx_http_postmark_lane_room(ngx_http_postmark_lane_t *lane)
{
    ngx_uint_t                   busy, share;
    ngx_http_postmark_lanes_t   *lanes;

    lanes = &ngx_http_postmark_lanes;

    if (lanes->admit == NULL
        || (lane->max
            && (lane->transfers >= lane->max
                || ngx_http_postmark_stats_full(
                       ngx_http_postmark_event_data(lane,
                                                    ngx_http_postmark_dest_t,
                                                    lane),
                       lane->max))))
    {
        return 0;
    }

    if (lane->api) {
        return lanes->transfers < lanes->capacity;
    }

    if (lanes->forwards >= lanes->forwards_max) {
        return 0;
    }

    busy = lanes->busy + (lane->transfers == 0
                           && ngx_queue_empty(&lane->waiting));

    share = ngx_max(lanes->forwards_max / (busy + 1), 1);

    return lane->transfers < share;
}


/*
 * A lane's transfers change by "transfers" (1, -1 or 0), and so does the
 * destination's count of all workers.
 */

void
ngx_http_postmark_lane_change(ngx_http_postmark_lane_t *lane,
    ngx_int_t transfers)
{
    ngx_http_postmark_dest_t  *dest;

    if (!lane->api && transfers) {
        dest = ngx_http_postmark_event_data(lane, ngx_http_postmark_dest_t,
                                            lane);
        if (transfers > 0) {
            (void) ngx_http_postmark_stats_enter(dest, 0);

        } else {
            ngx_http_postmark_stats_leave(dest);
        }
    }

    ngx_http_postmark_lane_count(lane, transfers);
}


/* the worker's own counts; busy lanes are counted */

static void
ngx_http_postmark_lane_count(ngx_http_postmark_lane_t *lane,
    ngx_int_t transfers)
{
    ngx_uint_t                   was, is;
    ngx_http_postmark_lanes_t   *lanes;

    lanes = &ngx_http_postmark_lanes;

    was = lane->busy;

    lane->transfers += transfers;
    lanes->transfers += transfers;

    if (!lane->api) {
        lanes->forwards += transfers;
    }

    is = (lane->transfers || !ngx_queue_empty(&lane->waiting));

    if (was != is) {
        lane->busy = is;
        lanes->busy = is ? lanes->busy + 1 : lanes->busy - 1;
    }

    if (transfers < 0 && lanes->admit && !ngx_queue_empty(&lanes->blocked)
        && !lanes->next.posted)
    {
        ngx_post_event(&lanes->next, &ngx_posted_events);
    }
}


static void
ngx_http_postmark_lane_block(ngx_http_postmark_lane_t *lane)
{
    ngx_http_postmark_lanes_t  *lanes;

    lanes = &ngx_http_postmark_lanes;

    if (!lane->blocked) {
        ngx_queue_insert_tail(&lanes->blocked, &lane->queue);
        lane->blocked = 1;
    }

    if (lane->max && !lanes->poll.timer_set && lanes->admit) {
        ngx_add_timer(&lanes->poll, NGX_HTTP_POSTMARK_LANE_POLL);
    }
}


/*
 * Room for a transfer that starts later, such as a spooled attempt whose
 * event is being read from disk: NGX_OK, or NGX_DECLINED, and then the
 * lane's "wake" is told when it has room.
 */

ngx_int_t
ngx_http_postmark_lane_reserve(ngx_http_postmark_lane_t *lane)
{
    if (ngx_http_postmark_lanes.admit == NULL) {
        return NGX_DECLINED;
    }

    if (!ngx_http_postmark_lane_room(lane)) {
        ngx_http_postmark_lane_block(lane);
        return NGX_DECLINED;
    }

    if (lane->max) {

        /* the place among all workers' attempts, taken or not */

        if (!ngx_http_postmark_stats_enter(
                 ngx_http_postmark_event_data(lane, ngx_http_postmark_dest_t,
                                              lane),
                 lane->max))
        {
            ngx_http_postmark_lane_block(lane);
            return NGX_DECLINED;
        }

        ngx_http_postmark_lane_count(lane, 1);

    } else {
        ngx_http_postmark_lane_change(lane, 1);
    }

    lane->reserved++;

    return NGX_OK;
}


void
ngx_http_postmark_lane_unreserve(ngx_http_postmark_lane_t *lane)
{
    lane->reserved--;
    ngx_http_postmark_lane_change(lane, -1);
}


/* a transfer takes its room: the one reserved for it, or one more */

void
ngx_http_postmark_lane_take(ngx_http_postmark_fetch_t *fetch)
{
    if (fetch->reserved) {
        fetch->reserved = 0;
        fetch->lane->reserved--;

    } else {
        ngx_http_postmark_lane_change(fetch->lane, 1);
    }
}


/* a transfer without room waits in its lane, for its whole timeout */

void
ngx_http_postmark_lane_wait(ngx_http_postmark_fetch_t *fetch)
{
    ngx_http_postmark_lane_t  *lane;

    lane = fetch->lane;

    ngx_queue_insert_tail(&lane->waiting, &fetch->queue);
    fetch->waiting = 1;
    ngx_http_postmark_lane_change(lane, 0);
    ngx_http_postmark_lane_block(lane);

    ngx_add_timer(&fetch->wait, fetch->timeout);
}


void
ngx_http_postmark_fetch_unwait(ngx_http_postmark_fetch_t *fetch)
{
    ngx_queue_remove(&fetch->queue);
    fetch->waiting = 0;

    if (fetch->wait.timer_set) {
        ngx_del_timer(&fetch->wait);
    }

    ngx_http_postmark_lane_change(fetch->lane, 0);
}


/* a waiting transfer of any lane, no longer waiting; NULL once none waits */

ngx_http_postmark_fetch_t *
ngx_http_postmark_lanes_unwait(void)
{
    ngx_queue_t                *q;
    ngx_http_postmark_lane_t   *lane;
    ngx_http_postmark_fetch_t  *fetch;
    ngx_http_postmark_lanes_t  *lanes;

    lanes = &ngx_http_postmark_lanes;

    while (!ngx_queue_empty(&lanes->blocked)) {
        q = ngx_queue_head(&lanes->blocked);
        lane = ngx_queue_data(q, ngx_http_postmark_lane_t, queue);

        if (ngx_queue_empty(&lane->waiting)) {
            ngx_queue_remove(&lane->queue);
            lane->blocked = 0;
            continue;
        }

        q = ngx_queue_head(&lane->waiting);
        fetch = ngx_queue_data(q, ngx_http_postmark_fetch_t, queue);

        ngx_http_postmark_fetch_unwait(fetch);

        return fetch;
    }

    return NULL;
}


/* why a transfer found no room within its timeout, in its error */

void
ngx_http_postmark_lane_why(ngx_http_postmark_fetch_t *fetch)
{
    ngx_http_postmark_lanes_t  *lanes;

    lanes = &ngx_http_postmark_lanes;

    if (fetch->lane->api) {
        ngx_snprintf((u_char *) fetch->error, CURL_ERROR_SIZE - 1,
                     "no connection to Postmark within %M ms: %ui transfers "
                     "of the worker's %ui are under way%Z", fetch->timeout,
                     lanes->transfers, lanes->capacity);
        return;
    }

    ngx_snprintf((u_char *) fetch->error, CURL_ERROR_SIZE - 1,
                 "no connection within %M ms: %ui transfers to this "
                 "destination and %ui of the worker's %ui forwards are "
                 "under way%Z", fetch->timeout, fetch->lane->transfers,
                 lanes->forwards, lanes->forwards_max);
}


/* room freed up: lanes waiting get it in turn, one transfer each */

static void
ngx_http_postmark_lanes_next(ngx_event_t *ev)
{
    ngx_queue_t                 *q, round;
    ngx_uint_t                   progress;
    ngx_http_postmark_lane_t    *lane;
    ngx_http_postmark_fetch_t   *fetch;
    ngx_http_postmark_lanes_t   *lanes;

    lanes = &ngx_http_postmark_lanes;

    /*
     * In rounds: every blocked lane that has room gets one transfer, and
     * goes back to the end of the queue if it wants more.
     */

    for ( ;; ) {
        if (ngx_queue_empty(&lanes->blocked) || lanes->admit == NULL) {
            return;
        }

        ngx_queue_init(&round);
        ngx_queue_add(&round, &lanes->blocked);
        ngx_queue_init(&lanes->blocked);

        progress = 0;

        while (!ngx_queue_empty(&round)) {
            q = ngx_queue_head(&round);
            ngx_queue_remove(q);

            lane = ngx_queue_data(q, ngx_http_postmark_lane_t, queue);
            lane->blocked = 0;

            if (!ngx_http_postmark_lane_room(lane)) {
                ngx_http_postmark_lane_block(lane);
                continue;
            }

            if (!ngx_queue_empty(&lane->waiting)) {
                fetch = ngx_queue_data(ngx_queue_head(&lane->waiting),
                                       ngx_http_postmark_fetch_t, queue);

                ngx_http_postmark_fetch_unwait(fetch);
                lanes->admit(fetch);

                if (!ngx_queue_empty(&lane->waiting)) {
                    ngx_http_postmark_lane_block(lane);
                }

                progress = 1;

            } else if (lane->wake) {

                /* it blocks itself again if it still wants more */

                lane->wake(lane);
                progress = 1;
            }
        }

        if (!progress) {
            return;
        }
    }
}
