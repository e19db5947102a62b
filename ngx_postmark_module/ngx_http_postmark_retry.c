
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Spooled deliveries, from the spool to the destinations.  Each spooled
 * destination has an outbox per worker: the deliveries ready to go, in the
 * order they became ready, started while the destination has room under
 * its max_concurrent, is not paused by a Retry-After, not gone (410), and
 * its circuit breaker is not open.  The cap, the pause, the 410 and the
 * breaker are those of all workers together, in the shared zone
 * (ngx_http_postmark_stats.c): what one worker hears holds for all.
 * A failed attempt waits an exponential backoff with jitter; an event that
 * would be older than retry_max_age before its next attempt goes to the
 * dead letters.
 *
 * Every attempt is a job of ngx_http_postmark_forward.c with one delivery,
 * so it is sent as a direct forward is: same headers, same webhook-id,
 * signatures made at the time of the attempt.
 */


#include "ngx_http_postmark_retry.h"
#include "ngx_http_postmark_forward.h"
#include "ngx_http_postmark_stats.h"


#define NGX_HTTP_POSTMARK_ANSWER_MAX  200

/*
 * Timers are kept shorter than a day: nginx hands the nearest one to
 * epoll_wait() as an int, and retry_max_age may be 30 days.
 */

#define NGX_HTTP_POSTMARK_TIMER_MAX   (24 * 60 * 60 * 1000)

/*
 * The age of each destination's oldest pending delivery is found by a
 * walk over them all, 64 blocks (about 35,000 deliveries) at a time: a
 * million take about three seconds, in steps of well under a millisecond.
 */

#define NGX_HTTP_POSTMARK_CENSUS_BLOCKS  64
#define NGX_HTTP_POSTMARK_CENSUS_STEP    100
#define NGX_HTTP_POSTMARK_CENSUS_EVERY   1000


/* why a delivery goes to the dead letters: a code in its "dead" bits */

#define NGX_HTTP_POSTMARK_DEAD_AGE       1
#define NGX_HTTP_POSTMARK_DEAD_STALLED   2
#define NGX_HTTP_POSTMARK_DEAD_FIELDS    3
#define NGX_HTTP_POSTMARK_DEAD_UNKNOWN   4

static const char  *ngx_http_postmark_dead_reasons[] = {
    NULL,
    "retry_max_age passed",
    "retry_max_age passed while the destination could not be tried",
    "its fields cannot be removed",
    "the destination is no longer configured"
};


typedef struct {
    ngx_http_postmark_outbox_t     *outboxes;
    ngx_uint_t                      n;
    ngx_array_t                    *spooled;    /* by client, then URL */
    ngx_uint_t                      exiting;

    /* dead letters waiting for the spool to take them */
    ngx_queue_t                     dead_waiting;

    ngx_event_t                     census;     /* the oldest, walked */

    /* memory held by first attempts waiting with their event */
    size_t                          parked;
} ngx_http_postmark_retry_t;


static ngx_http_postmark_outbox_t *ngx_http_postmark_retry_outbox_of(
    ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_retry_handover(
    ngx_http_postmark_segment_t *segment, ngx_http_postmark_record_t *recs,
    ngx_http_postmark_dest_t **dests, ngx_uint_t n,
    ngx_http_postmark_job_t *fresh);
static void ngx_http_postmark_retry_forget(ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_retry_start(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_job_t *fresh);
static void ngx_http_postmark_retry_done(ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_retry_free(ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_retry_dead(ngx_http_postmark_pending_t *p,
    ngx_uint_t why);
static void ngx_http_postmark_retry_dead_done(void *data, ngx_int_t rc);
static void ngx_http_postmark_retry_due(ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_retry_ready(ngx_http_postmark_pending_t *p,
    ngx_uint_t head);
static ngx_int_t ngx_http_postmark_retry_deadline(
    ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_outbox_dispatch(
    ngx_http_postmark_outbox_t *ob);
static ngx_uint_t ngx_http_postmark_outbox_open(
    ngx_http_postmark_outbox_t *ob);
static void ngx_http_postmark_outbox_resume(ngx_event_t *ev);
static void ngx_http_postmark_outbox_wake(ngx_http_postmark_lane_t *lane);
static void ngx_http_postmark_attempt_unreserve(
    ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_outbox_wait(ngx_http_postmark_outbox_t *ob,
    ngx_msec_t wait);
static void ngx_http_postmark_attempt(ngx_http_postmark_pending_t *p);
static ngx_http_postmark_job_t *ngx_http_postmark_attempt_fresh(
    ngx_http_postmark_pending_t *p, ngx_http_postmark_job_t *fresh);
static void ngx_http_postmark_attempt_unpark(ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_attempt_drop(ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_attempt_read(void *data,
    ngx_http_postmark_record_t *rec, ngx_int_t rc);
static void ngx_http_postmark_attempt_send(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_job_t *job);
static void ngx_http_postmark_attempt_done(ngx_http_postmark_job_t *job);
static void ngx_http_postmark_attempt_failed(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_job_t *job);
static void ngx_http_postmark_breaker(ngx_http_postmark_outbox_t *ob);
static ngx_msec_t ngx_http_postmark_backoff(ngx_http_postmark_pending_t *p);
static void ngx_http_postmark_remember(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_delivery_t *d);
static void ngx_http_postmark_note_release(ngx_http_postmark_note_t *note);
static void ngx_http_postmark_census(ngx_event_t *ev);
static void ngx_http_postmark_census_count(ngx_http_postmark_pending_t *p);


/* process-wide: the outboxes of this worker */
static ngx_http_postmark_retry_t  ngx_http_postmark_retry;


ngx_int_t
ngx_http_postmark_retry_init(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_http_postmark_dest_t      **dests;
    ngx_http_postmark_retry_t      *retry;
    ngx_http_postmark_outbox_t     *ob;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_postmark_module);

    retry = &ngx_http_postmark_retry;

    /* what the spool has on disk to deliver comes here */

    ngx_http_postmark_spool_up(ngx_http_postmark_retry_handover);

    ngx_queue_init(&retry->dead_waiting);

    ngx_http_postmark_pending_init(ngx_http_postmark_retry_due, cycle->log);

    if (pmcf->spooled.nelts == 0) {
        return NGX_OK;
    }

    retry->n = pmcf->spooled.nelts;
    retry->spooled = &pmcf->spooled_by_name;
    retry->outboxes = ngx_calloc(retry->n * sizeof(ngx_http_postmark_outbox_t),
                                 cycle->log);
    if (retry->outboxes == NULL) {
        return NGX_ERROR;
    }

    dests = pmcf->spooled.elts;

    for (i = 0; i < retry->n; i++) {
        ob = &retry->outboxes[i];

        ob->dest = dests[i];
        ngx_queue_init(&ob->ready);

        ngx_http_postmark_timer_init(&ob->resume,
                                     ngx_http_postmark_outbox_resume,
                                     cycle->log);

        /* the engine says when the destination's lane has room again */

        ob->dest->lane.wake = ngx_http_postmark_outbox_wake;
        ob->dest->lane.data = ob;
    }

    ngx_http_postmark_timer_init(&retry->census, ngx_http_postmark_census,
                                 cycle->log);
    ngx_add_timer(&retry->census, NGX_HTTP_POSTMARK_CENSUS_EVERY);

    return NGX_OK;
}


/*
 * A step of the walk over the pending deliveries; when it is through,
 * each outbox's oldest goes to the shared zone, for the metrics.
 */

static void
ngx_http_postmark_census(ngx_event_t *ev)
{
    ngx_uint_t                   i;
    ngx_http_postmark_outbox_t  *ob;
    ngx_http_postmark_retry_t   *retry;

    retry = &ngx_http_postmark_retry;

    if (retry->exiting || ngx_exiting) {
        return;
    }

    if (!ngx_http_postmark_pending_walk(NGX_HTTP_POSTMARK_CENSUS_BLOCKS,
                                        ngx_http_postmark_census_count))
    {
        ngx_add_timer(ev, NGX_HTTP_POSTMARK_CENSUS_STEP);
        return;
    }

    for (i = 0; i < retry->n; i++) {
        ob = &retry->outboxes[i];

        ngx_http_postmark_stats_oldest(ob->dest, ob->oldest);
        ob->oldest = 0;
    }

    ngx_add_timer(ev, NGX_HTTP_POSTMARK_CENSUS_EVERY);
}


static void
ngx_http_postmark_census_count(ngx_http_postmark_pending_t *p)
{
    ngx_http_postmark_outbox_t  *ob;

    ob = p->outbox;

    if (ob && (ob->oldest == 0 || p->created < ob->oldest)) {
        ob->oldest = p->created;
    }
}


/*
 * At worker exit nothing more is attempted; what is pending stays in the
 * spool for the workers that follow.  Timers leave nginx's tree before
 * their memory goes: other modules' exits still add and delete timers.
 */

void
ngx_http_postmark_retry_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_postmark_retry_t  *retry;

    retry = &ngx_http_postmark_retry;

    retry->exiting = 1;

    ngx_http_postmark_timer_stop(&retry->census);
    ngx_http_postmark_pending_exit(ngx_http_postmark_retry_forget);

    for (i = 0; i < retry->n; i++) {
        ngx_http_postmark_timer_stop(&retry->outboxes[i].resume);
        ngx_http_postmark_note_release(retry->outboxes[i].note);
    }

    ngx_free(retry->outboxes);
    retry->outboxes = NULL;
    retry->n = 0;
}


/*
 * What a pending delivery holds beyond the spool, let go at exit: an
 * attempt whose record was being read will never hear of it (the thread
 * pool is stopped); one in a transfer is ended by the engine, after this.
 */

static void
ngx_http_postmark_retry_forget(ngx_http_postmark_pending_t *p)
{
    if (p->reading || p->parked) {
        ngx_http_postmark_job_destroy(p->job);
    }

    ngx_http_postmark_note_release(p->last);
}


ngx_http_postmark_outbox_t *
ngx_http_postmark_retry_outboxes(ngx_uint_t *n)
{
    *n = ngx_http_postmark_retry.n;

    return ngx_http_postmark_retry.outboxes;
}


static ngx_http_postmark_outbox_t *
ngx_http_postmark_retry_outbox_of(ngx_http_postmark_dest_t *dest)
{
    return &ngx_http_postmark_retry.outboxes[dest->index];
}


/* the outbox of a record's client and destination, by their names */

ngx_http_postmark_outbox_t *
ngx_http_postmark_retry_outbox(ngx_http_postmark_record_t *rec)
{
    ngx_http_postmark_dest_t  *dest;

    if (ngx_http_postmark_retry.spooled == NULL) {
        return NULL;
    }

    dest = ngx_http_postmark_spooled_dest(ngx_http_postmark_retry.spooled,
                                          rec);

    return dest ? ngx_http_postmark_retry_outbox_of(dest) : NULL;
}


/*
 * The spooled destination of a record's client and destination names, in
 * the configuration's sorted index: read only, so threads may look too.
 */

ngx_http_postmark_dest_t *
ngx_http_postmark_spooled_dest(ngx_array_t *by_name,
    ngx_http_postmark_record_t *rec)
{
    ngx_int_t                   rc;
    ngx_uint_t                  lo, hi, mid;
    ngx_http_postmark_dest_t  **dests, *dest;

    dests = by_name->elts;
    lo = 0;
    hi = by_name->nelts;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        dest = dests[mid];

        rc = ngx_memn2cmp(dest->client->name.data, (u_char *) rec->client,
                          dest->client->name.len, rec->client_len);

        if (rc == 0) {
            rc = ngx_memn2cmp(dest->display.data, (u_char *) rec->dest,
                              dest->display.len, rec->dest_len);
        }

        if (rc == 0) {
            return dest;
        }

        if (rc < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


/*
 * Records the spool has on disk, to deliver: a new batch's, with their
 * destinations and "fresh", or a taken-over segment's, whose destinations
 * are found by name.  A record that gets no pending delivery (no memory)
 * is never done here: its segment stays for the next worker.
 */

static void
ngx_http_postmark_retry_handover(ngx_http_postmark_segment_t *segment,
    ngx_http_postmark_record_t *recs, ngx_http_postmark_dest_t **dests,
    ngx_uint_t n, ngx_http_postmark_job_t *fresh)
{
    ngx_uint_t                    i;
    ngx_http_postmark_outbox_t   *ob;
    ngx_http_postmark_pending_t  *p;

    for (i = 0; i < n; i++) {
        ob = dests ? ngx_http_postmark_retry_outbox_of(dests[i])
                   : ngx_http_postmark_retry_outbox(&recs[i]);

        p = ngx_http_postmark_pending_alloc();
        if (p == NULL) {
            continue;
        }

        ngx_http_postmark_stored_set(&p->stored, segment, &recs[i]);
        p->outbox = ob;
        p->created = recs[i].created;

        if (ob == NULL) {
            ngx_http_postmark_retry_dead(p, NGX_HTTP_POSTMARK_DEAD_UNKNOWN);
            continue;
        }

        ob->pending++;

        ngx_http_postmark_retry_start(p, fresh);
    }
}


/*
 * "fresh", when given, has the body in memory: the first attempt takes
 * it along, in its own job made now.  One that cannot start at once waits
 * its turn with it, as long as the worker holds no more than
 * NGX_HTTP_POSTMARK_PARKED_MAX that way; otherwise it, and every later
 * attempt, reads the record back.
 */

static void
ngx_http_postmark_retry_start(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_job_t *fresh)
{
    ngx_http_postmark_job_t  *job;

    job = fresh ? ngx_http_postmark_attempt_fresh(p, fresh) : NULL;

    if (job) {
        p->job = job;
        p->parked = 1;
        ngx_http_postmark_retry.parked += NGX_HTTP_POSTMARK_JOB_POOL
                                          + job->body.len;
    }

    /* what retry_ready() starts ends later: "p" is still there after it */

    ngx_http_postmark_retry_ready(p, 0);

    if (p->parked
        && ngx_http_postmark_retry.parked > NGX_HTTP_POSTMARK_PARKED_MAX)
    {
        ngx_http_postmark_attempt_drop(p);
    }
}


/* delivered, or nothing to deliver: done in the spool, and here */

static void
ngx_http_postmark_retry_done(ngx_http_postmark_pending_t *p)
{
    ngx_http_postmark_spool_done(&p->stored);
    ngx_http_postmark_retry_free(p);
}


static void
ngx_http_postmark_retry_free(ngx_http_postmark_pending_t *p)
{
    if (p->parked) {
        ngx_http_postmark_attempt_drop(p);
    }

    ngx_http_postmark_due_del(p);

    if (p->ready) {
        ngx_queue_remove(&p->queue);
    }

    if (p->outbox) {
        p->outbox->pending--;
        ngx_http_postmark_stats_backlog(p->outbox->dest, p->outbox->pending);
    }

    ngx_http_postmark_note_release(p->last);
    ngx_http_postmark_pending_free(p);
}


/*
 * To the dead letters: as many at once as the spool writes, the rest wait
 * their turn; one that could not be written is tried again later.
 */

static void
ngx_http_postmark_retry_dead(ngx_http_postmark_pending_t *p, ngx_uint_t why)
{
    ngx_int_t  rc;

    p->dead = why;

    rc = ngx_http_postmark_dead_letter(&p->stored,
                                      ngx_http_postmark_dead_reasons[why],
                                      p->last ? p->last->text : NULL,
                                      p->attempts,
                                      ngx_http_postmark_retry_dead_done, p);

    if (rc == NGX_BUSY) {
        ngx_queue_insert_tail(&ngx_http_postmark_retry.dead_waiting,
                              &p->queue);

    } else if (rc != NGX_OK) {
        ngx_http_postmark_due_add(p, NGX_HTTP_POSTMARK_DEAD_RETRY);
    }
}


static void
ngx_http_postmark_retry_dead_done(void *data, ngx_int_t rc)
{
    ngx_http_postmark_pending_t *p = data;

    ngx_queue_t                *q;
    ngx_http_postmark_retry_t  *retry;

    retry = &ngx_http_postmark_retry;

    if (rc == NGX_ERROR) {
        ngx_http_postmark_due_add(p, NGX_HTTP_POSTMARK_DEAD_RETRY);

    } else {
        if (rc == NGX_OK && p->outbox) {
            p->outbox->dead++;
            ngx_http_postmark_stats_delivery(p->outbox->dest,
                                             NGX_HTTP_POSTMARK_D_DEAD);
        }

        ngx_http_postmark_retry_free(p);
    }

    if (!ngx_queue_empty(&retry->dead_waiting)) {
        q = ngx_queue_head(&retry->dead_waiting);
        ngx_queue_remove(q);

        p = ngx_queue_data(q, ngx_http_postmark_pending_t, queue);
        ngx_http_postmark_retry_dead(p, p->dead);
    }
}


static void
ngx_http_postmark_retry_due(ngx_http_postmark_pending_t *p)
{
    if (p->dead) {
        ngx_http_postmark_retry_dead(p, p->dead);
        return;
    }

    if (p->ready) {

        /* a deadline further than a timer goes: the timer is set again */

        if (ngx_http_postmark_retry_deadline(p) == NGX_OK) {
            return;
        }

        ngx_queue_remove(&p->queue);
        p->ready = 0;

        ngx_http_postmark_retry_dead(p, NGX_HTTP_POSTMARK_DEAD_STALLED);
        return;
    }

    ngx_http_postmark_retry_ready(p, 0);
}


/*
 * Into the outbox's ready queue, watched by a timer at the event's
 * deadline, and started if the destination has room.
 */

static void
ngx_http_postmark_retry_ready(ngx_http_postmark_pending_t *p,
    ngx_uint_t head)
{
    ngx_http_postmark_outbox_t  *ob;

    ob = p->outbox;

    if (ngx_http_postmark_retry_deadline(p) != NGX_OK) {
        ngx_http_postmark_retry_dead(p, NGX_HTTP_POSTMARK_DEAD_AGE);
        return;
    }

    if (head) {
        ngx_queue_insert_head(&ob->ready, &p->queue);

    } else {
        ngx_queue_insert_tail(&ob->ready, &p->queue);
    }

    p->ready = 1;

    ngx_http_postmark_outbox_dispatch(ob);
}


/* watches the deadline of a ready delivery: NGX_DECLINED once it passed */

static ngx_int_t
ngx_http_postmark_retry_deadline(ngx_http_postmark_pending_t *p)
{
    uint64_t  now, deadline;

    now = ngx_http_postmark_now();
    deadline = p->created + p->outbox->dest->policy.max_age;

    if (deadline <= now) {
        return NGX_DECLINED;
    }

    ngx_http_postmark_due_add(p, (ngx_msec_t) ngx_min(deadline - now,
                                               NGX_HTTP_POSTMARK_TIMER_MAX));

    return NGX_OK;
}


/* as many attempts as the destination has room for, oldest ready first */

static void
ngx_http_postmark_outbox_dispatch(ngx_http_postmark_outbox_t *ob)
{
    ngx_queue_t                  *q;
    ngx_http_postmark_pending_t  *p;

    /* an attempt that fails at once must not start the next one inside */

    if (ob->dispatching) {
        return;
    }

    ob->dispatching = 1;

    while (!ngx_queue_empty(&ob->ready)
           && ngx_http_postmark_outbox_open(ob)
           && ngx_http_postmark_lane_reserve(&ob->dest->lane) == NGX_OK)
    {
        q = ngx_queue_head(&ob->ready);
        ngx_queue_remove(q);

        p = ngx_queue_data(q, ngx_http_postmark_pending_t, queue);
        p->ready = 0;

        ngx_http_postmark_due_del(p);

        p->busy = 1;
        p->reserved = 1;
        ob->busy++;

        ngx_http_postmark_attempt(p);
    }

    ob->dispatching = 0;

    /* what the workers show together: this worker's share */

    ngx_http_postmark_stats_backlog(ob->dest, ob->pending);
}


/*
 * Whether the destination takes an attempt now, as far as its breaker
 * says: max_concurrent is the cap of the destination's lane.  A probe
 * goes alone, and one that never reports (its worker died) gives its
 * place to another worker's after the attempt's timeout.
 */

static ngx_uint_t
ngx_http_postmark_outbox_open(ngx_http_postmark_outbox_t *ob)
{
    ngx_int_t   rc;
    ngx_msec_t  wait;

    if (ngx_http_postmark_retry.exiting || ngx_exiting || ngx_terminate
        || ngx_quit || ngx_http_postmark_stats_is_gone(ob->dest))
    {
        return 0;
    }

    wait = ngx_http_postmark_stats_paused(ob->dest);

    if (wait) {
        ngx_http_postmark_outbox_wait(ob, wait);
        return 0;
    }

    if (ob->probing) {
        return ob->busy == 0;
    }

    rc = ngx_http_postmark_breaker_admit(ob->dest,
                                         ob->dest->timeout + 5000,
                                         &wait);

    if (rc == NGX_AGAIN) {
        ngx_http_postmark_outbox_wait(ob, wait);
        return 0;
    }

    if (rc == NGX_DONE) {
        ob->probing = 1;
        return ob->busy == 0;
    }

    return 1;
}


static void
ngx_http_postmark_outbox_wake(ngx_http_postmark_lane_t *lane)
{
    ngx_http_postmark_outbox_dispatch(lane->data);
}


/* an attempt that ends before its transfer starts gives its room back */

static void
ngx_http_postmark_attempt_unreserve(ngx_http_postmark_pending_t *p)
{
    if (p->reserved) {
        p->reserved = 0;
        ngx_http_postmark_lane_unreserve(&p->outbox->dest->lane);
    }
}


/* a Retry-After pause ended, or the breaker may let a probe through */

static void
ngx_http_postmark_outbox_resume(ngx_event_t *ev)
{
    ngx_http_postmark_outbox_t  *ob;

    ob = ngx_http_postmark_event_data(ev, ngx_http_postmark_outbox_t, resume);

    ngx_http_postmark_outbox_dispatch(ob);
}


/*
 * A first attempt that waited with its event is sent as it is; any other
 * reads its record back from the spool, in a thread.
 */

static void
ngx_http_postmark_attempt(ngx_http_postmark_pending_t *p)
{
    ngx_http_postmark_job_t   *job;
    ngx_http_postmark_body_t  *body;

    if (p->parked) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "postmark spool: first attempt to \"%V\", its event "
                       "in memory", &p->outbox->dest->display);

        ngx_http_postmark_attempt_unpark(p);
        ngx_http_postmark_attempt_send(p, p->job);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "postmark spool: attempt %ui to \"%V\", its record read "
                   "back", (ngx_uint_t) p->attempts + 1,
                   &p->outbox->dest->display);

    body = ngx_http_postmark_body_alloc(p->stored.length, ngx_cycle->log);
    if (body == NULL) {
        ngx_http_postmark_attempt_failed(p, NULL);
        return;
    }

    job = ngx_http_postmark_job_create(p->outbox->dest->client, body,
                                       ngx_cycle->log);

    ngx_http_postmark_body_release(body);

    if (job == NULL) {
        ngx_http_postmark_attempt_failed(p, NULL);
        return;
    }

    job->retry = 1;
    job->data = p;
    p->job = job;
    p->reading = 1;

    if (ngx_http_postmark_spool_read(&p->stored, body->data,
                                     ngx_http_postmark_attempt_read, p)
        != NGX_OK)
    {
        p->reading = 0;
        ngx_http_postmark_job_destroy(job);
        p->job = NULL;
        ngx_http_postmark_attempt_failed(p, NULL);
    }
}


/*
 * A first attempt's job, sharing the body the request brought; it
 * outlives the request, so the rest is its own copies.
 */

static ngx_http_postmark_job_t *
ngx_http_postmark_attempt_fresh(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_job_t *fresh)
{
    ngx_http_postmark_job_t  *job;

    job = ngx_http_postmark_job_create(p->outbox->dest->client,
                                       fresh->shared, ngx_cycle->log);
    if (job == NULL) {
        return NULL;
    }

    job->retry = 1;
    job->data = p;
    job->body = fresh->body;
    job->id.len = fresh->id.len;
    job->id.data = ngx_pstrdup(job->pool, &fresh->id);
    job->event.len = fresh->event.len;
    job->event.data = ngx_pstrdup(job->pool, &fresh->event);

    if (job->id.data == NULL || job->event.data == NULL) {
        ngx_http_postmark_job_destroy(job);
        return NULL;
    }

    return job;
}


static void
ngx_http_postmark_attempt_unpark(ngx_http_postmark_pending_t *p)
{
    p->parked = 0;
    ngx_http_postmark_retry.parked -= NGX_HTTP_POSTMARK_JOB_POOL
                                      + p->job->body.len;
}


/* a waiting first attempt lets its event go: it will read the record */

static void
ngx_http_postmark_attempt_drop(ngx_http_postmark_pending_t *p)
{
    ngx_http_postmark_attempt_unpark(p);
    ngx_http_postmark_job_destroy(p->job);
    p->job = NULL;
}


static void
ngx_http_postmark_attempt_read(void *data, ngx_http_postmark_record_t *rec,
    ngx_int_t rc)
{
    ngx_http_postmark_pending_t *p = data;

    ngx_http_postmark_job_t     *job;
    ngx_http_postmark_outbox_t  *ob;

    job = p->job;
    ob = p->outbox;

    p->reading = 0;

    if (ngx_http_postmark_retry.exiting) {
        return;
    }

    if (rec == NULL) {
        ngx_http_postmark_job_destroy(job);
        p->job = NULL;

        if (rc == NGX_DECLINED) {

            /* damaged: logged, and there is nothing to deliver */

            ngx_http_postmark_attempt_unreserve(p);
            p->busy = 0;
            ob->busy--;
            ngx_http_postmark_retry_done(p);
            ngx_http_postmark_outbox_dispatch(ob);
            return;
        }

        ngx_http_postmark_attempt_failed(p, NULL);
        return;
    }

    job->body.data = (u_char *) rec->body;
    job->body.len = rec->body_len;
    job->id.data = (u_char *) rec->id;
    job->id.len = rec->id_len;
    job->event.data = (u_char *) rec->event;
    job->event.len = rec->event_len;

    ngx_http_postmark_attempt_send(p, job);
}


static void
ngx_http_postmark_attempt_send(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_job_t *job)
{
    ngx_http_postmark_delivery_t  **d;

    if (ngx_http_postmark_job_add(job, p->outbox->dest) != NGX_OK) {
        ngx_http_postmark_job_destroy(job);
        p->job = NULL;
        ngx_http_postmark_attempt_failed(p, NULL);
        return;
    }

    d = job->deliveries.elts;

    if (d[0]->fetch) {
        ngx_http_postmark_fetch_keep_response(d[0]->fetch,
                                              NGX_HTTP_POSTMARK_ANSWER_MAX, 1);

        /* the room taken at dispatch is the transfer's now */

        d[0]->fetch->reserved = p->reserved;
        p->reserved = 0;
    }

    job->done = ngx_http_postmark_attempt_done;

    if (ngx_http_postmark_job_start(job) != NGX_OK) {

        /* nothing started: the outcome is known now */

        ngx_http_postmark_attempt_done(job);
    }
}


static void
ngx_http_postmark_attempt_done(ngx_http_postmark_job_t *job)
{
    u_char                         then[128];
    time_t                         after;
    ngx_msec_t                     pause;
    ngx_http_postmark_outbox_t    *ob;
    ngx_http_postmark_pending_t   *p;
    ngx_http_postmark_delivery_t  *d, **ds;

    /* at worker exit the deliveries are gone already: the spool keeps them */

    if (ngx_http_postmark_retry.exiting) {
        ngx_http_postmark_job_destroy(job);
        return;
    }

    p = job->data;
    ob = p->outbox;
    ds = job->deliveries.elts;
    d = ds[0];

    p->busy = 0;
    p->job = NULL;
    ob->busy--;

    /*
     * What the answer says for all workers, a Retry-After pause or a 410,
     * is said before the attempt's room is given back: the worker that
     * takes the room next must find it.
     */

    after = 0;
    pause = 0;

    if (!d->ok && !d->error) {
        if (d->status == 429 || d->status == 503) {
            after = ngx_http_postmark_fetch_retry_after(d->fetch);
        }

        if (after > 0) {
            pause = (ngx_msec_t) ngx_min(after, (time_t) 86400) * 1000;
            pause = ngx_min(pause, ob->dest->policy.max_age);
            ngx_http_postmark_stats_pause(ob->dest, pause);

        } else if (d->status == 410) {
            ngx_http_postmark_stats_gone(ob->dest);
        }
    }

    ngx_http_postmark_attempt_unreserve(p);

    if (p->attempts < 0xffffff) {
        p->attempts++;
    }

    if (d->ok) {
        ob->delivered++;
        ob->probing = 0;

        if (ngx_http_postmark_breaker_passed(ob->dest)) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "postmark client \"%V\": forward to \"%V\" "
                          "answers again: circuit breaker closed, %ui "
                          "deliveries waiting in this worker",
                          &ob->dest->client->name, &ob->dest->display,
                          ob->pending - 1);
        }

        ngx_http_postmark_job_destroy(job);
        ngx_http_postmark_retry_done(p);
        ngx_http_postmark_outbox_dispatch(ob);
        return;
    }

    /*
     * A worker that is shutting down neither counts the failure nor tries
     * again: the event stays in the spool for the workers that follow.
     */

    if (ngx_exiting) {
        ngx_http_postmark_job_destroy(job);
        return;
    }

    ngx_http_postmark_remember(p, d);

    if (d->error) {

        /* the event itself cannot be sent: retrying would not help */

        ngx_http_postmark_delivery_log(d, NGX_LOG_ERR, "");
        ngx_http_postmark_job_destroy(job);
        ngx_http_postmark_retry_dead(p, NGX_HTTP_POSTMARK_DEAD_FIELDS);
        ngx_http_postmark_outbox_dispatch(ob);
        return;
    }

    if (d->status == 410) {
        ngx_http_postmark_delivery_log(d, NGX_LOG_ERR,
                                       "; 410 Gone: no more deliveries to it "
                                       "until nginx is reloaded, its events "
                                       "wait in the spool");
        ngx_http_postmark_job_destroy(job);
        ngx_http_postmark_retry_ready(p, 1);
        return;
    }

    if (after > 0) {
        *ngx_snprintf(then, sizeof(then) - 1, "; Retry-After: deliveries to "
                      "it pause for %M s", pause / 1000) = '\0';
        ngx_http_postmark_delivery_log(d, NGX_LOG_WARN, (char *) then);
        ngx_http_postmark_job_destroy(job);

        ngx_http_postmark_outbox_wait(ob, pause);

        ngx_http_postmark_retry_ready(p, 1);
        return;
    }

    ngx_http_postmark_attempt_failed(p, job);
}


/*
 * "job" is NULL when the attempt could not even be made (no memory, the
 * spool unreadable): such a failure waits like any other.  The job, logged
 * first, is destroyed here.
 */

static void
ngx_http_postmark_attempt_failed(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_job_t *job)
{
    u_char                          then[128];
    uint64_t                        now;
    ngx_msec_t                      delay;
    ngx_http_postmark_outbox_t     *ob;
    ngx_http_postmark_delivery_t   *d, **ds;

    ob = p->outbox;
    d = NULL;

    if (job) {
        ds = job->deliveries.elts;
        d = ds[0];
    }

    if (p->busy) {
        p->busy = 0;
        ob->busy--;
    }

    ngx_http_postmark_attempt_unreserve(p);

    ngx_http_postmark_breaker(ob);

    delay = ngx_http_postmark_backoff(p);
    now = ngx_http_postmark_now();

    if (now + delay >= p->created + ob->dest->policy.max_age) {
        if (d) {
            ngx_http_postmark_delivery_log(d, NGX_LOG_WARN,
                                           "; no attempt left within "
                                           "retry_max_age");
        }

        ngx_http_postmark_retry_dead(p, NGX_HTTP_POSTMARK_DEAD_AGE);

    } else {
        if (d) {
            *ngx_snprintf(then, sizeof(then) - 1, "; attempt %ui, next in "
                          "%M ms", (ngx_uint_t) p->attempts, delay) = '\0';
            ngx_http_postmark_delivery_log(d, NGX_LOG_WARN, (char *) then);
        }

        ngx_http_postmark_due_add(p, delay);
        ngx_http_postmark_stats_retry(ob->dest);
    }

    if (job) {
        ngx_http_postmark_job_destroy(job);
    }

    ngx_http_postmark_outbox_dispatch(ob);
}


/* a failure counts for the breaker of all workers, which it may open */

static void
ngx_http_postmark_breaker(ngx_http_postmark_outbox_t *ob)
{
    ngx_uint_t  failures, probe;
    ngx_msec_t  wait;

    probe = ob->probing;
    ob->probing = 0;

    wait = ngx_http_postmark_breaker_failed(ob->dest, probe, &failures);

    if (wait == 0) {
        return;
    }

    if (!probe) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "postmark client \"%V\": forward to \"%V\" failed "
                      "%ui times in a row: circuit breaker open, one probe "
                      "in %M ms, %ui deliveries waiting in this worker",
                      &ob->dest->client->name, &ob->dest->display,
                      failures, wait, ob->pending);
    }

    ngx_http_postmark_outbox_wait(ob, wait);
}


/* a pause and an open breaker share a timer: the later end wins */

static void
ngx_http_postmark_outbox_wait(ngx_http_postmark_outbox_t *ob,
    ngx_msec_t wait)
{
    if (ob->resume.timer_set
        && (ngx_msec_int_t) (ob->resume.timer.key - ngx_current_msec)
           >= (ngx_msec_int_t) wait)
    {
        return;
    }

    ngx_add_timer(&ob->resume, wait);
}


/* first * 2^(attempts - 1), up to the largest, then half of it jittered */

static ngx_msec_t
ngx_http_postmark_backoff(ngx_http_postmark_pending_t *p)
{
    ngx_msec_t                   delay;
    ngx_uint_t                   n;
    ngx_http_postmark_policy_t  *policy;

    policy = &p->outbox->dest->policy;

    n = p->attempts ? ngx_min(p->attempts - 1, 30) : 0;
    delay = policy->backoff_first;

    while (n-- && delay < policy->backoff_max) {
        delay *= 2;
    }

    delay = ngx_min(delay, policy->backoff_max);

    return delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);
}


/* the last answer, for the dead letter: printable, and short */

static void
ngx_http_postmark_remember(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_delivery_t *d)
{
    u_char                     *end;
    size_t                      len;
    ngx_str_t                   answer;
    ngx_http_postmark_note_t   *note;
    ngx_http_postmark_outbox_t *ob;
    u_char                      text[sizeof("HTTP 000: ")
                                     + NGX_HTTP_POSTMARK_ANSWER_MAX
                                     + CURL_ERROR_SIZE];

    ob = p->outbox;
    ngx_str_null(&answer);

    if (d->status && d->fetch) {
        answer = d->fetch->response;
    }

    if (d->status) {
        end = ngx_snprintf(text, sizeof(text) - 1, "HTTP %l%s%V", d->status,
                           answer.len ? ": " : "", &answer);

    } else {
        end = ngx_snprintf(text, sizeof(text) - 1, "%s", d->reason);
    }

    len = end - text;

    ngx_http_postmark_printable(text, len + 1, (char *) text, len, ' ');

    /* the destination said the same before: the note is shared */

    note = ob->note;

    if (note == NULL || ngx_strcmp(note->text, text) != 0) {
        note = ngx_alloc(sizeof(ngx_http_postmark_note_t) + len,
                         ngx_cycle->log);
        if (note == NULL) {
            return;
        }

        note->refs = 1;
        ngx_memcpy(note->text, text, len + 1);

        ngx_http_postmark_note_release(ob->note);
        ob->note = note;
    }

    note->refs++;

    ngx_http_postmark_note_release(p->last);
    p->last = note;
}


static void
ngx_http_postmark_note_release(ngx_http_postmark_note_t *note)
{
    if (note && --note->refs == 0) {
        ngx_free(note);
    }
}
