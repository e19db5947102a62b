
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The spool: spooled deliveries on local disk, in append-only segment
 * files of records (ngx_http_postmark_record.h).  Each worker appends new
 * events to a segment of its own, holding an flock() on every segment it
 * uses, so that when a worker dies or exits its segments are unlocked and
 * another worker takes them over.
 *
 * Records are gathered in memory and written in groups: one write and one
 * fdatasync() in a thread of nginx's pool carry every record that arrived
 * while the previous group was being written.  A receiver is answered only
 * when its group is on disk.  Done marks follow their delivery into its
 * segment; a segment with nothing left to deliver is removed.
 *
 * The segment events go to is kept ahead of its records by zeros, really
 * written: a group then lands on blocks the file has, its size does not
 * change, and its fdatasync() writes the data alone, not the inode and
 * the blocks' map too.
 *
 * Nothing here blocks the event loop: every open, read, write, sync,
 * rename and unlink is done in a thread, and threads use plain system
 * calls only, reporting back through their context.
 */


#include "ngx_http_postmark_spool.h"
#include "ngx_http_postmark_file.h"
#include "ngx_http_postmark_stats.h"

#include <sys/file.h>


#define NGX_HTTP_POSTMARK_SEGMENT_MAX   (8 * 1024 * 1024)
#define NGX_HTTP_POSTMARK_FULL_LOG      10      /* seconds */
#define NGX_HTTP_POSTMARK_MARKS_WAIT    100     /* ms */
#define NGX_HTTP_POSTMARK_ROOM          (1024 * 1024)
#define NGX_HTTP_POSTMARK_ROOM_MIN      (64 * 1024)


struct ngx_http_postmark_segment_s {
    ngx_queue_t                     queue;
    ngx_fd_t                        fd;         /* -1 until created */
    u_char                         *path;
    off_t                           size;       /* where the next group goes */
    off_t                           zeroed;     /* room written up to */
    ngx_uint_t                      pending;

    /* the group being gathered */
    u_char                         *buf;
    size_t                          len;
    size_t                          cap;
    ngx_uint_t                      events;
    ngx_uint_t                      marks;      /* done marks */
    ngx_queue_t                     waiters;
    unsigned                        sync:1;

    ngx_thread_task_t              *task;       /* for its writes */
    unsigned                        writing:1;
    unsigned                        active:1;   /* new events go here */
    unsigned                        failed:1;
    unsigned                        removing:1;
};


typedef struct {
    ngx_http_postmark_segment_t    *segment;
    ngx_fd_t                        fd;
    ngx_uint_t                      create;
    u_char                          dir[NGX_MAX_PATH];
    u_char                          path[NGX_MAX_PATH];
    u_char                         *buf;
    size_t                          len;
    off_t                           offset;
    size_t                          room;       /* zeros after the group */
    ngx_uint_t                      sync;
    ngx_uint_t                      events;
    ngx_uint_t                      marks;
    ngx_queue_t                     waiters;
    const char                     *op;
    ngx_err_t                       err;
} ngx_http_postmark_write_t;


typedef struct {
    ngx_http_postmark_read_pt       handler;
    void                           *data;
    ngx_http_postmark_segment_t    *segment;
    ngx_fd_t                        fd;
    u_char                         *buf;
    size_t                          len;
    off_t                           offset;
    ngx_http_postmark_record_t      rec;
    ngx_int_t                       rc;
    ngx_err_t                       err;
} ngx_http_postmark_read_t;


typedef struct {
    ngx_http_postmark_segment_t    *segment;
    ngx_fd_t                        fd;
    u_char                          path[NGX_MAX_PATH];
} ngx_http_postmark_remove_t;


typedef struct {
    ngx_http_postmark_main_conf_t  *conf;
    ngx_queue_t                     segments;
    ngx_http_postmark_segment_t    *active;
    ngx_uint_t                      seq;

    /* writes the gathered groups, once the ready events have joined */
    ngx_event_t                     groups;

    /* writes done marks that no group of events took along */
    ngx_event_t                     marks;

    /* as last scanned; the size is all workers', in the shared zone */
    ngx_uint_t                      segments_on_disk;
    ngx_uint_t                      dead_letters;

    ngx_uint_t                      refused;    /* while full */
    time_t                          refused_logged;

    /* failed writes since the last line that said so */
    ngx_uint_t                      failed_writes;
    ngx_uint_t                      failed_events;
    ngx_uint_t                      failed_marks;
    time_t                          failed_logged;
    const char                     *failed_op;
    ngx_err_t                       failed_err;
} ngx_http_postmark_spool_t;


static void ngx_http_postmark_segment_abandon(
    ngx_http_postmark_segment_t *seg);
static ngx_http_postmark_segment_t *ngx_http_postmark_segment_create(void);
static ngx_http_postmark_segment_t *ngx_http_postmark_segment_alloc(
    size_t path_len);
static u_char *ngx_http_postmark_segment_append(
    ngx_http_postmark_segment_t *seg, size_t size);
static u_char *ngx_http_postmark_spool_reserve(size_t size,
    ngx_http_postmark_segment_t **segment, off_t *offset);
static void ngx_http_postmark_spool_commit(ngx_http_postmark_segment_t *seg,
    ngx_http_postmark_commit_t *commit);
static void ngx_http_postmark_groups_later(void);
static void ngx_http_postmark_marks_later(void);
static void ngx_http_postmark_segments_write(ngx_event_t *ev);
static off_t ngx_http_postmark_segment_limit(void);
static size_t ngx_http_postmark_segment_room(ngx_http_postmark_segment_t *seg);
static void ngx_http_postmark_segment_write(ngx_http_postmark_segment_t *seg);
static void ngx_http_postmark_write_thread(void *data, ngx_log_t *log);
static void ngx_http_postmark_write_done(ngx_event_t *ev);
static void ngx_http_postmark_write_failed(ngx_http_postmark_write_t *ctx);
static void ngx_http_postmark_segment_fail(ngx_http_postmark_segment_t *seg);
static void ngx_http_postmark_segment_check(ngx_http_postmark_segment_t *seg);
static void ngx_http_postmark_remove_thread(void *data, ngx_log_t *log);
static void ngx_http_postmark_remove_done(ngx_event_t *ev);
static void ngx_http_postmark_segment_free(ngx_http_postmark_segment_t *seg);
static void ngx_http_postmark_spool_refused(void);
static void ngx_http_postmark_batch_committed(void *data, ngx_int_t rc);
static void ngx_http_postmark_spool_hand_over(ngx_http_postmark_segment_t *seg,
    ngx_http_postmark_record_t *recs, ngx_http_postmark_dest_t **dests,
    ngx_uint_t n, ngx_http_postmark_job_t *fresh);
static void ngx_http_postmark_read_thread(void *data, ngx_log_t *log);
static void ngx_http_postmark_read_done(ngx_event_t *ev);


/* process-wide: the spool of this worker */
static ngx_http_postmark_spool_t  ngx_http_postmark_spool;

/* the room's bytes: pages of zeros, mapped only while a write reads them */
static u_char  ngx_http_postmark_zeros[NGX_HTTP_POSTMARK_ROOM];

/* the layer above, which schedules what the spool hands over */
static ngx_http_postmark_handover_pt  ngx_http_postmark_spool_handover;


ngx_int_t
ngx_http_postmark_spool_init(ngx_cycle_t *cycle)
{
    ngx_http_postmark_spool_t      *spool;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_postmark_module);

    spool = &ngx_http_postmark_spool;
    ngx_queue_init(&spool->segments);

    if (pmcf->spool.len == 0) {
        return NGX_OK;
    }

    spool->conf = pmcf;

    ngx_http_postmark_timer_init(&spool->groups,
                                 ngx_http_postmark_segments_write, cycle->log);
    ngx_http_postmark_timer_init(&spool->marks,
                                 ngx_http_postmark_segments_write, cycle->log);

    return NGX_OK;
}


/*
 * At worker exit the thread pools are done: a write whose completion was
 * not handled is answered as failed (503, and Postmark retries), records
 * still in memory (done marks) are written without a thread, and every
 * segment is unlocked for the workers that follow.
 */

void
ngx_http_postmark_spool_exit(ngx_cycle_t *cycle)
{
    ngx_queue_t                  *q;
    ngx_http_postmark_segment_t  *seg;
    ngx_http_postmark_spool_t    *spool;

    spool = &ngx_http_postmark_spool;

    if (spool->conf == NULL) {
        return;
    }

    ngx_http_postmark_timer_stop(&spool->groups);
    ngx_http_postmark_timer_stop(&spool->marks);

    while (!ngx_queue_empty(&spool->segments)) {
        q = ngx_queue_head(&spool->segments);
        seg = ngx_queue_data(q, ngx_http_postmark_segment_t, queue);

        if (seg->writing) {
            ngx_http_postmark_segment_abandon(seg);
        }

        if (seg->fd != NGX_INVALID_FILE && seg->len && !seg->failed
            && ngx_http_postmark_pwrite(seg->fd, seg->buf, seg->len,
                                        seg->size)
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                          "postmark spool: the last records of \"%s\" "
                          "were not written at exit, so their deliveries "
                          "will be made again", seg->path);
        }

        /* a removal's thread has closed the file already */

        if (seg->fd != NGX_INVALID_FILE && !seg->removing) {
            (void) close(seg->fd);
        }

        ngx_queue_remove(q);
        ngx_free(seg->buf);
        ngx_free(seg->path);
        ngx_free(seg->task);
        ngx_free(seg);
    }

    spool->active = NULL;
}


/* a write whose thread finished but whose completion never ran */

static void
ngx_http_postmark_segment_abandon(ngx_http_postmark_segment_t *seg)
{
    ngx_queue_t                  waiters, *q;
    ngx_http_postmark_write_t   *ctx;
    ngx_http_postmark_commit_t  *commit;

    ctx = seg->task->ctx;

    ngx_free(ctx->buf);
    ctx->buf = NULL;

    if (ctx->create && ctx->fd != -1) {
        (void) close(ctx->fd);
    }

    seg->writing = 0;

    ngx_queue_init(&waiters);

    if (!ngx_queue_empty(&ctx->waiters)) {
        ngx_queue_add(&waiters, &ctx->waiters);
        ngx_queue_init(&ctx->waiters);
    }

    if (!ngx_queue_empty(&seg->waiters)) {
        ngx_queue_add(&waiters, &seg->waiters);
        ngx_queue_init(&seg->waiters);
    }

    seg->failed = 1;

    while (!ngx_queue_empty(&waiters)) {
        q = ngx_queue_head(&waiters);
        ngx_queue_remove(q);

        commit = ngx_queue_data(q, ngx_http_postmark_commit_t, queue);
        commit->handler(commit->data, NGX_ERROR);
    }
}


/*
 * Writes a batch of deliveries into the active segment, all in one group:
 * a received event for each of its spooled destinations, or replayed dead
 * letters.  Returns NGX_OK when the batch's commit will be told the
 * outcome, NGX_DECLINED when the spool is full, or NGX_ABORT when the
 * batch is larger than the spool could ever take.  Once the group is on
 * disk its records are handed over, with the batch's "fresh" job, which
 * has the body in memory for a first attempt.
 */

ngx_int_t
ngx_http_postmark_spool_write(ngx_http_postmark_batch_t *b)
{
    off_t        offset;
    u_char      *p;
    size_t       size;
    ngx_uint_t   i;

    size = 0;

    for (i = 0; i < b->n; i++) {
        b->recs[i].type = NGX_HTTP_POSTMARK_RECORD_DELIVERY;
        b->recs[i].length = ngx_http_postmark_record_size(&b->recs[i]);

        if (b->recs[i].length > NGX_HTTP_POSTMARK_RECORD_MAX) {
            return NGX_ABORT;
        }

        size += b->recs[i].length;
    }

    /* what could never fit is no reason to try again */

    if ((off_t) size > ngx_http_postmark_spool.conf->spool_max_size) {
        return NGX_ABORT;
    }

    /*
     * The room is taken for all workers at once.  A write that fails after
     * this holds it until the next scan measures the spool again.
     */

    if (!ngx_http_postmark_stats_spool_take(size,
                                  ngx_http_postmark_spool.conf->spool_max_size))
    {
        ngx_http_postmark_spool_refused();
        return NGX_DECLINED;
    }

    p = ngx_http_postmark_spool_reserve(size, &b->segment, &b->offset);
    if (p == NULL) {
        return NGX_ERROR;
    }

    b->segment->events += b->n;

    offset = b->offset;

    for (i = 0; i < b->n; i++) {
        b->recs[i].offset = offset;
        ngx_http_postmark_record_write(p, &b->recs[i]);
        p += b->recs[i].length;
        offset += b->recs[i].length;
    }

    b->own.handler = ngx_http_postmark_batch_committed;
    b->own.data = b;

    ngx_http_postmark_spool_commit(b->segment, &b->own);

    return NGX_OK;
}


/* a full spool is logged every few seconds, not for every event refused */

static void
ngx_http_postmark_spool_refused(void)
{
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    spool->refused++;

    if (ngx_time() - spool->refused_logged < NGX_HTTP_POSTMARK_FULL_LOG) {
        return;
    }

    ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                  "postmark spool \"%V\" is full (max_size=%O): %ui "
                  "write%s refused since the last such line; deliver or "
                  "remove what waits there, or raise max_size",
                  &spool->conf->spool, spool->conf->spool_max_size,
                  spool->refused, spool->refused == 1 ? "" : "s");

    spool->refused = 0;
    spool->refused_logged = ngx_time();
}


static void
ngx_http_postmark_batch_committed(void *data, ngx_int_t rc)
{
    ngx_http_postmark_batch_t *b = data;

    if (rc == NGX_OK) {
        ngx_http_postmark_spool_hand_over(b->segment, b->recs, b->dests, b->n,
                                          b->fresh);
    }

    b->commit->handler(b->commit->data, rc);
}


/*
 * Each record handed over holds its segment until it is done or dead;
 * one the layer above never gets to (no memory) holds it for good, and
 * the next worker takes the segment over.
 */

static void
ngx_http_postmark_spool_hand_over(ngx_http_postmark_segment_t *seg,
    ngx_http_postmark_record_t *recs, ngx_http_postmark_dest_t **dests,
    ngx_uint_t n, ngx_http_postmark_job_t *fresh)
{
    /* held while deliveries start, some of which may end at once */

    seg->pending += n + 1;

    ngx_http_postmark_spool_handover(seg, recs, dests, n, fresh);

    seg->pending--;
    ngx_http_postmark_segment_check(seg);
}


/*
 * Room for "size" bytes of records in the active segment, which another
 * replaces when full or failed; *offset is where they will be in the file.
 */

static u_char *
ngx_http_postmark_spool_reserve(size_t size,
    ngx_http_postmark_segment_t **segment, off_t *offset)
{
    off_t                         limit;
    ngx_http_postmark_segment_t  *seg;
    ngx_http_postmark_spool_t    *spool;

    spool = &ngx_http_postmark_spool;
    seg = spool->active;
    limit = ngx_http_postmark_segment_limit();

    if (seg && (seg->failed
                || (seg->size + (off_t) seg->len + (off_t) size > limit
                    && seg->size + seg->len > 0)))
    {
        seg->active = 0;
        spool->active = NULL;
        ngx_http_postmark_segment_check(seg);
        seg = NULL;
    }

    if (seg == NULL) {
        seg = ngx_http_postmark_segment_create();
        if (seg == NULL) {
            return NULL;
        }

        seg->active = 1;
        spool->active = seg;
    }

    *segment = seg;
    *offset = seg->size + seg->len;

    return ngx_http_postmark_segment_append(seg, size);
}


/* "commit" is told when the group with the records is on disk */

static void
ngx_http_postmark_spool_commit(ngx_http_postmark_segment_t *seg,
    ngx_http_postmark_commit_t *commit)
{
    ngx_queue_insert_tail(&seg->waiters, &commit->queue);
    seg->sync = 1;

    if (!seg->writing) {
        ngx_http_postmark_groups_later();
    }
}


/*
 * A group goes to its thread once the events ready meanwhile have been
 * read, not at its first record: under load, the events that arrived
 * while the worker answered the last group join this one instead of
 * waiting for a sync of their own.  It costs no wait: nginx polls
 * without one when an event is posted for its next turn.
 */

static void
ngx_http_postmark_groups_later(void)
{
    ngx_post_event(&ngx_http_postmark_spool.groups, &ngx_posted_next_events);
}


/* a delivery is done: its mark follows it into its segment */

void
ngx_http_postmark_spool_done(ngx_http_postmark_stored_t *st)
{
    u_char                       *mark;
    off_t                         offset;
    ngx_http_postmark_record_t    rec;
    ngx_http_postmark_segment_t  *seg;

    seg = st->segment;
    offset = st->offset;

    /* a segment removed as a whole needs no last mark */

    if (--seg->pending == 0 && !seg->active) {
        ngx_http_postmark_segment_check(seg);
        return;
    }

    ngx_memzero(&rec, sizeof(ngx_http_postmark_record_t));
    rec.type = NGX_HTTP_POSTMARK_RECORD_DONE;
    rec.done = offset;

    mark = ngx_http_postmark_segment_append(seg,
                                            NGX_HTTP_POSTMARK_RECORD_DONE_LEN);
    if (mark == NULL) {
        return;     /* delivered again after a restart */
    }

    ngx_http_postmark_record_write(mark, &rec);
    seg->marks++;

    if (ngx_queue_empty(&seg->waiters)) {
        ngx_http_postmark_marks_later();
    }
}


/*
 * A done mark needs no sync and no write of its own: it goes with the
 * next group of events, or, when none comes, a little later with the
 * marks of other deliveries.  Until then a worker that dies makes those
 * deliveries again, as it would for a mark not yet synced.
 */

static void
ngx_http_postmark_marks_later(void)
{
    ngx_event_t  *ev;

    ev = &ngx_http_postmark_spool.marks;

    if (!ev->timer_set) {
        ngx_add_timer(ev, NGX_HTTP_POSTMARK_MARKS_WAIT);
    }
}


/*
 * Writes what the segments gathered: groups of events at the worker's
 * next turn and, once the marks' wait is over, the done marks no group
 * took along.  One being written is seen again once its write is done.
 */

static void
ngx_http_postmark_segments_write(ngx_event_t *ev)
{
    ngx_uint_t                    marks;
    ngx_queue_t                  *q;
    ngx_http_postmark_segment_t  *seg;

    marks = (ev == &ngx_http_postmark_spool.marks);

    for (q = ngx_queue_head(&ngx_http_postmark_spool.segments);
         q != ngx_queue_sentinel(&ngx_http_postmark_spool.segments);
         q = ngx_queue_next(q))
    {
        seg = ngx_queue_data(q, ngx_http_postmark_segment_t, queue);

        if (seg->writing) {
            continue;
        }

        if (!ngx_queue_empty(&seg->waiters)
            || (marks && seg->len && !seg->removing
                && seg->fd != NGX_INVALID_FILE))
        {
            ngx_http_postmark_segment_write(seg);
        }
    }
}


static ngx_http_postmark_segment_t *
ngx_http_postmark_segment_create(void)
{
    ngx_http_postmark_spool_t    *spool;
    ngx_http_postmark_segment_t  *seg;

    spool = &ngx_http_postmark_spool;

    seg = ngx_http_postmark_segment_alloc(spool->conf->spool.len
                                          + sizeof("/-.seg") + 13
                                          + 2 * NGX_INT_T_LEN);
    if (seg == NULL) {
        return NULL;
    }

    /* names sort by creation: older segments are taken over first */

    ngx_sprintf(seg->path, "%V/%013uL-%P-%ui.seg%Z",
                &spool->conf->spool, ngx_http_postmark_now(), ngx_pid,
                spool->seq++);

    return seg;
}


/* a segment of the spool's list, with room for its path; no file yet */

static ngx_http_postmark_segment_t *
ngx_http_postmark_segment_alloc(size_t path_len)
{
    ngx_http_postmark_segment_t  *seg;

    seg = ngx_calloc(sizeof(ngx_http_postmark_segment_t), ngx_cycle->log);
    if (seg == NULL) {
        return NULL;
    }

    seg->path = ngx_alloc(path_len, ngx_cycle->log);
    seg->task = ngx_http_postmark_task_create(
                    ngx_max(sizeof(ngx_http_postmark_write_t),
                            sizeof(ngx_http_postmark_remove_t)),
                    ngx_http_postmark_write_thread,
                    ngx_http_postmark_write_done);

    if (seg->task == NULL || seg->path == NULL) {
        ngx_free(seg->task);
        ngx_free(seg->path);
        ngx_free(seg);
        return NULL;
    }

    seg->fd = NGX_INVALID_FILE;
    ngx_queue_init(&seg->waiters);
    ngx_queue_insert_tail(&ngx_http_postmark_spool.segments, &seg->queue);

    return seg;
}


static u_char *
ngx_http_postmark_segment_append(ngx_http_postmark_segment_t *seg,
    size_t size)
{
    u_char  *buf, *p;
    size_t   cap;

    if (seg->len + size > seg->cap) {
        cap = ngx_max(ngx_max(2 * seg->cap, seg->len + size), 65536);

        buf = ngx_alloc(cap, ngx_cycle->log);
        if (buf == NULL) {
            return NULL;
        }

        if (seg->len) {
            ngx_memcpy(buf, seg->buf, seg->len);
        }

        ngx_free(seg->buf);
        seg->buf = buf;
        seg->cap = cap;
    }

    p = seg->buf + seg->len;
    seg->len += size;

    return p;
}


/*
 * A segment is removed only once full and delivered: it is kept small
 * next to max_size, so that what it holds frees up in time.
 */

static off_t
ngx_http_postmark_segment_limit(void)
{
    return ngx_min(NGX_HTTP_POSTMARK_SEGMENT_MAX,
                   ngx_http_postmark_spool.conf->spool_max_size / 8);
}


/*
 * Zeros to write after the gathered group, once it goes past the room
 * written before: a little of max_size, taken from it as records are
 * (the records that land on the room count again until the next scan
 * measures the spool), never past the segment's limit, none when small.
 */

static size_t
ngx_http_postmark_segment_room(ngx_http_postmark_segment_t *seg)
{
    off_t  end, room, max;

    end = seg->size + (off_t) seg->len;
    max = ngx_http_postmark_spool.conf->spool_max_size;

    if (!seg->active || end <= seg->zeroed) {
        return 0;
    }

    room = ngx_min(NGX_HTTP_POSTMARK_ROOM, max / 64);
    room = ngx_min(room, ngx_http_postmark_segment_limit() - end);

    if (room < NGX_HTTP_POSTMARK_ROOM_MIN
        || !ngx_http_postmark_stats_spool_take(room, max))
    {
        return 0;
    }

    return (size_t) room;
}


/* the gathered group goes to a thread; the next one gathers meanwhile */

static void
ngx_http_postmark_segment_write(ngx_http_postmark_segment_t *seg)
{
    ngx_http_postmark_write_t  *ctx;

    ctx = seg->task->ctx;

    /* the thread reads nothing the event loop may change meanwhile */

    ctx->segment = seg;
    ctx->fd = seg->fd;
    ctx->create = (seg->fd == NGX_INVALID_FILE);
    ngx_cpystrn(ctx->dir, ngx_http_postmark_spool.conf->spool.data,
                NGX_MAX_PATH);
    ngx_cpystrn(ctx->path, seg->path, NGX_MAX_PATH);
    ctx->buf = seg->buf;
    ctx->len = seg->len;
    ctx->offset = seg->size;
    ctx->room = ngx_http_postmark_segment_room(seg);
    ctx->sync = seg->sync || ctx->create;
    ctx->events = seg->events;
    ctx->marks = seg->marks;
    ctx->op = NULL;
    ctx->err = 0;

    ngx_queue_init(&ctx->waiters);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "postmark spool write of \"%s\": %ui events, %ui marks, "
                   "%uz bytes%s", seg->path, ctx->events, ctx->marks,
                   ctx->len, ctx->sync ? ", synced" : "");

    if (!ngx_queue_empty(&seg->waiters)) {
        ngx_queue_add(&ctx->waiters, &seg->waiters);
        ngx_queue_init(&seg->waiters);
    }

    seg->size += seg->len;
    seg->buf = NULL;
    seg->len = 0;
    seg->cap = 0;
    seg->events = 0;
    seg->marks = 0;
    seg->sync = 0;
    seg->writing = 1;

    if (ngx_http_postmark_task_post(seg->task) != NGX_OK) {

        /* answered as a failed write, from the event loop */

        ctx->op = "ngx_thread_task_post()";
        ngx_post_event(&seg->task->event, &ngx_posted_events);
    }
}


static void
ngx_http_postmark_write_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_write_t *ctx = data;

    if (ctx->create) {
        ctx->fd = open((char *) ctx->path, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC,
                       0600);

        if (ctx->fd == -1) {
            ctx->op = "open()";
            goto failed;
        }

        /*
         * A worker scanning the spool may hold the new file for a moment;
         * it leaves young empty segments alone, so the wait is short.
         */

        if (flock(ctx->fd, LOCK_EX) == -1) {
            ctx->op = "flock()";
            goto failed;
        }

        if (ngx_http_postmark_sync_dir(ctx->dir) != NGX_OK) {
            ctx->op = "fsync() of the directory";
            goto failed;
        }
    }

    if (ngx_http_postmark_pwrite(ctx->fd, ctx->buf, ctx->len, ctx->offset)
        != NGX_OK
        || ngx_http_postmark_pwrite(ctx->fd, ngx_http_postmark_zeros,
                                    ctx->room, ctx->offset + ctx->len)
           != NGX_OK)
    {
        ctx->op = "pwrite()";
        goto failed;
    }

    if (ctx->sync && fdatasync(ctx->fd) == -1) {
        ctx->op = "fdatasync()";
        goto failed;
    }

    /* a segment removed from under the spool would lose what it takes */

    if (ctx->sync && !ctx->create
        && ngx_http_postmark_linked(ctx->fd) != NGX_OK)
    {
        ctx->op = NGX_HTTP_POSTMARK_LINKED_CALL;
        goto failed;
    }

    return;

failed:

    ctx->err = errno;

    /*
     * After a failed sync the kernel may have dropped the pages: nothing
     * of this group is trusted, and the segment takes no more events.
     */

    if (ctx->fd != -1 && ftruncate(ctx->fd, ctx->offset) == -1) {
        /* the segment is retired all the same */
    }
}


static void
ngx_http_postmark_write_done(ngx_event_t *ev)
{
    ngx_int_t                     rc;
    ngx_queue_t                   waiters, *q;
    ngx_thread_task_t            *task;
    ngx_http_postmark_write_t    *ctx;
    ngx_http_postmark_commit_t   *commit;
    ngx_http_postmark_segment_t  *seg;

    task = ev->data;
    ctx = task->ctx;
    seg = ctx->segment;

    seg->writing = 0;
    ngx_free(ctx->buf);

    if (ctx->create && ctx->fd != -1) {
        seg->fd = ctx->fd;
    }

    if (ctx->op == NULL && ctx->room) {
        seg->zeroed = ctx->offset + (off_t) (ctx->len + ctx->room);
    }

    ngx_queue_init(&waiters);

    if (!ngx_queue_empty(&ctx->waiters)) {
        ngx_queue_add(&waiters, &ctx->waiters);
        ngx_queue_init(&ctx->waiters);
    }

    rc = NGX_OK;

    if (ctx->op == NULL && ngx_http_postmark_spool.failed_writes) {
        ngx_http_postmark_write_failed(NULL);
    }

    if (ctx->op) {
        rc = NGX_ERROR;

        /* what was gathered meanwhile fails with it */

        ctx->events += seg->events;
        ctx->marks += seg->marks;

        ngx_http_postmark_write_failed(ctx);

        /* records gathered since counted on these bytes */

        seg->size = ctx->offset;
        ngx_http_postmark_segment_fail(seg);

        if (!ngx_queue_empty(&seg->waiters)) {
            ngx_queue_add(&waiters, &seg->waiters);
            ngx_queue_init(&seg->waiters);
        }
    }

    while (!ngx_queue_empty(&waiters)) {
        q = ngx_queue_head(&waiters);
        ngx_queue_remove(q);

        commit = ngx_queue_data(q, ngx_http_postmark_commit_t, queue);
        commit->handler(commit->data, rc);
    }

    if (!ngx_queue_empty(&seg->waiters)) {
        ngx_http_postmark_groups_later();

    } else if (seg->len) {
        ngx_http_postmark_marks_later();
    }

    ngx_http_postmark_segment_check(seg);
}


/*
 * A full disk fails every write, done marks too: the same failure is said
 * once every few seconds with what the failed writes held, and once more
 * when writes succeed again ("ctx" is NULL then).
 */

static void
ngx_http_postmark_write_failed(ngx_http_postmark_write_t *ctx)
{
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    if (ctx) {
        spool->failed_writes++;
        spool->failed_events += ctx->events;
        spool->failed_marks += ctx->marks;

        if (ctx->op == spool->failed_op && ctx->err == spool->failed_err
            && ngx_time() - spool->failed_logged < NGX_HTTP_POSTMARK_FULL_LOG)
        {
            return;
        }

        spool->failed_op = ctx->op;
        spool->failed_err = ctx->err;

        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, ctx->err,
                      "postmark spool: %s of \"%s\" failed; %ui write%s "
                      "failed since the last such line, with %ui event%s "
                      "(answered 503: Postmark retries them) and %ui done "
                      "mark%s (their events may be delivered again after a "
                      "restart)", ctx->op, ctx->path, spool->failed_writes,
                      spool->failed_writes == 1 ? "" : "s",
                      spool->failed_events,
                      spool->failed_events == 1 ? "" : "s",
                      spool->failed_marks,
                      spool->failed_marks == 1 ? "" : "s");

    } else {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "postmark spool: writes succeed again; %ui more "
                      "failed before, with %ui events and %ui done marks",
                      spool->failed_writes, spool->failed_events,
                      spool->failed_marks);
    }

    spool->failed_writes = 0;
    spool->failed_events = 0;
    spool->failed_marks = 0;
    spool->failed_logged = ngx_time();

    if (ctx == NULL) {
        spool->failed_op = NULL;
    }
}


static void
ngx_http_postmark_segment_fail(ngx_http_postmark_segment_t *seg)
{
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    seg->failed = 1;
    seg->active = 0;
    seg->events = 0;
    seg->marks = 0;

    if (spool->active == seg) {
        spool->active = NULL;
    }

    ngx_free(seg->buf);
    seg->buf = NULL;
    seg->len = 0;
    seg->cap = 0;
}


/* a segment no one appends to, with nothing left to deliver, goes away */

static void
ngx_http_postmark_segment_check(ngx_http_postmark_segment_t *seg)
{
    ngx_http_postmark_remove_t  *ctx;

    if (seg->active || seg->pending || seg->writing || seg->removing
        || !ngx_queue_empty(&seg->waiters))
    {
        return;
    }

    if (seg->fd == NGX_INVALID_FILE) {
        ngx_http_postmark_segment_free(seg);
        return;
    }

    /* done marks in memory are of no use once the file is gone */

    ngx_free(seg->buf);
    seg->buf = NULL;
    seg->len = 0;
    seg->cap = 0;

    seg->removing = 1;

    seg->task->handler = ngx_http_postmark_remove_thread;
    seg->task->event.handler = ngx_http_postmark_remove_done;

    ctx = seg->task->ctx;
    ctx->segment = seg;
    ctx->fd = seg->fd;
    ngx_cpystrn(ctx->path, seg->path, NGX_MAX_PATH);

    if (ngx_http_postmark_task_post(seg->task) != NGX_OK) {

        /* left on disk, unlocked: taken over and removed by a scan */

        (void) close(seg->fd);
        ngx_http_postmark_segment_free(seg);
    }
}


/* unlinked while still locked, so that no scan reads it half gone */

static void
ngx_http_postmark_remove_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_remove_t *ctx = data;

    (void) unlink((char *) ctx->path);
    (void) close(ctx->fd);
}


static void
ngx_http_postmark_remove_done(ngx_event_t *ev)
{
    ngx_thread_task_t           *task;
    ngx_http_postmark_remove_t  *ctx;

    task = ev->data;
    ctx = task->ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "postmark spool: removed \"%s\"", ctx->path);

    ngx_http_postmark_segment_free(ctx->segment);
}


static void
ngx_http_postmark_segment_free(ngx_http_postmark_segment_t *seg)
{
    ngx_queue_remove(&seg->queue);

    ngx_free(seg->buf);
    ngx_free(seg->path);
    ngx_free(seg->task);
    ngx_free(seg);
}


/*
 * Reads a stored record back, into "buf" of st->length bytes, checking its
 * CRC; the handler gets the record, or NULL when it could not be read or
 * is damaged.  The thread works on copies.
 */

ngx_int_t
ngx_http_postmark_spool_read(ngx_http_postmark_stored_t *st, u_char *buf,
    ngx_http_postmark_read_pt handler, void *data)
{
    ngx_thread_task_t         *task;
    ngx_http_postmark_read_t  *ctx;

    task = ngx_http_postmark_task_create(sizeof(ngx_http_postmark_read_t),
                                         ngx_http_postmark_read_thread,
                                         ngx_http_postmark_read_done);
    if (task == NULL) {
        return NGX_ERROR;
    }

    ctx = task->ctx;
    ctx->handler = handler;
    ctx->data = data;
    ctx->segment = st->segment;
    ctx->fd = st->segment->fd;
    ctx->buf = buf;
    ctx->len = st->length;
    ctx->offset = st->offset;

    if (ngx_http_postmark_task_post(task) != NGX_OK) {
        ngx_free(task);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_postmark_read_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_read_t *ctx = data;

    size_t  pos, skipped;

    ctx->rc = NGX_ERROR;

    if (ngx_http_postmark_pread(ctx->fd, ctx->buf, ctx->len, ctx->offset)
        != (ssize_t) ctx->len)
    {
        ctx->err = errno;
        return;
    }

    pos = 0;

    if (ngx_http_postmark_record_next(ctx->buf, ctx->len, &pos, &ctx->rec,
                                      &skipped)
        != NGX_HTTP_POSTMARK_RECORD_OK
        || ctx->rec.type != NGX_HTTP_POSTMARK_RECORD_DELIVERY
        || ctx->rec.length != ctx->len)
    {
        ctx->rc = NGX_DECLINED;
        return;
    }

    ctx->rc = NGX_OK;
}


static void
ngx_http_postmark_read_done(ngx_event_t *ev)
{
    ngx_thread_task_t         *task;
    ngx_http_postmark_read_t  *ctx;

    task = ev->data;
    ctx = task->ctx;

    if (ctx->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ctx->err,
                      "postmark spool: reading %uz bytes at %O of \"%s\" "
                      "failed", ctx->len, ctx->offset, ctx->segment->path);

    } else if (ctx->rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "postmark spool: the record at %O of \"%s\" is "
                      "damaged and is skipped", ctx->offset,
                      ctx->segment->path);
    }

    ctx->handler(ctx->data, ctx->rc == NGX_OK ? &ctx->rec : NULL, ctx->rc);

    ngx_free(task);
}


void
ngx_http_postmark_spool_measured(ngx_uint_t segments,
    ngx_uint_t dead)
{
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    spool->segments_on_disk = segments;
    spool->dead_letters = dead;
}


/*
 * A segment no worker holds any more, taken over by this one: locked, its
 * file open, with the records left to deliver.
 */

ngx_int_t
ngx_http_postmark_spool_adopt(u_char *path, ngx_fd_t fd, off_t size,
    ngx_http_postmark_record_t *recs, ngx_uint_t n)
{
    size_t                        len;
    ngx_http_postmark_segment_t  *seg;

    len = ngx_strlen(path) + 1;

    seg = ngx_http_postmark_segment_alloc(len);
    if (seg == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(seg->path, path, len);
    seg->fd = fd;
    seg->size = size;

    ngx_http_postmark_spool_hand_over(seg, recs, NULL, n, NULL);

    return NGX_OK;
}


/* a dead letter was written since the last scan counted them */

void
ngx_http_postmark_spool_count_dead(void)
{
    ngx_http_postmark_spool.dead_letters++;
}


/* counters for the status page */

void
ngx_http_postmark_spool_stats(off_t *bytes, ngx_uint_t *segments,
    ngx_uint_t *dead)
{
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    *bytes = ngx_http_postmark_stats_spool_size();
    *segments = spool->segments_on_disk;
    *dead = spool->dead_letters;
}


void
ngx_http_postmark_spool_up(ngx_http_postmark_handover_pt handover)
{
    ngx_http_postmark_spool_handover = handover;
}


