
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
 * Nothing here blocks the event loop: every open, read, write, sync,
 * rename and unlink is done in a thread, and threads use plain system
 * calls only, reporting back through their context.
 */


#include "ngx_http_postmark_spool.h"

#include <sys/file.h>
#include <dirent.h>

#include <cjson/cJSON.h>


#define NGX_HTTP_POSTMARK_SEGMENT_MAX   (8 * 1024 * 1024)
#define NGX_HTTP_POSTMARK_SCAN_EVERY    1000
#define NGX_HTTP_POSTMARK_YOUNG         60      /* seconds */
#define NGX_HTTP_POSTMARK_FULL_LOG      10      /* seconds */
#define NGX_HTTP_POSTMARK_DEAD_MAX      16      /* written at once */


struct ngx_http_postmark_segment_s {
    ngx_queue_t                     queue;
    ngx_fd_t                        fd;         /* -1 until created */
    u_char                         *path;
    off_t                           size;       /* where the next group goes */
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
    ngx_http_postmark_dead_pt       handler;
    void                           *data;
    ngx_http_postmark_stored_t      stored;     /* the thread's copy */
    ngx_fd_t                        fd;
    u_char                         *dir;
    u_char                          path[NGX_MAX_PATH];
    const char                     *reason;
    u_char                          last[512];  /* "" without one */
    uint64_t                        now;
    ngx_uint_t                      attempts;

    /* for the log line */
    u_char                          client[65];
    u_char                          dest[256];
    u_char                          id[65];
    u_char                          event[65];
    ngx_int_t                       rc;         /* NGX_DECLINED: damaged */
    const char                     *op;
    ngx_err_t                       err;
} ngx_http_postmark_dead_t;


typedef struct {
    u_char                         *dir;
    u_char                         *dead;
    time_t                          now;
    ngx_uint_t                      exiting;

    off_t                           bytes;
    ngx_uint_t                      segments;
    ngx_uint_t                      dead_letters;

    /* a segment taken over */
    ngx_fd_t                        fd;
    u_char                          path[NGX_MAX_PATH];
    u_char                         *buf;
    size_t                          size;
    ngx_http_postmark_record_t     *pending;
    long                            npending;
    size_t                          skipped;
    size_t                          damaged;
    ngx_uint_t                      removed;
    ngx_uint_t                      more;

    const char                     *op;
    ngx_err_t                       err;
} ngx_http_postmark_scan_t;


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

    ngx_event_t                     scan;
    ngx_thread_task_t              *scan_task;
    ngx_uint_t                      scanning;

    /* the spool's size: last scanned, plus what was written since */
    off_t                           scanned;
    off_t                           written;
    off_t                           written_at_scan;
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

    /* dead letters being written */
    ngx_uint_t                      dead_busy;
} ngx_http_postmark_spool_t;


static void ngx_http_postmark_segment_abandon(
    ngx_http_postmark_segment_t *seg);
static ngx_http_postmark_segment_t *ngx_http_postmark_segment_create(void);
static ngx_http_postmark_segment_t *ngx_http_postmark_segment_alloc(
    size_t path_len);
static u_char *ngx_http_postmark_segment_append(
    ngx_http_postmark_segment_t *seg, size_t size);
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
static void ngx_http_postmark_dead_thread(void *data, ngx_log_t *log);
static ngx_int_t ngx_http_postmark_dead_write(ngx_http_postmark_dead_t *ctx,
    ngx_http_postmark_record_t *rec);
static cJSON *ngx_http_postmark_dead_header(ngx_http_postmark_record_t *rec,
    uint64_t now, ngx_uint_t attempts, const char *reason, const char *last);
static cJSON *ngx_http_postmark_json_add(cJSON *obj, const char *name,
    const char *value, size_t len);
static void ngx_http_postmark_iso_time(char *buf, uint64_t ms);
static void ngx_http_postmark_dead_done(ngx_event_t *ev);
static void ngx_http_postmark_scan_start(ngx_event_t *ev);
static void ngx_http_postmark_scan_thread(void *data, ngx_log_t *log);
static void ngx_http_postmark_scan_count(ngx_http_postmark_scan_t *ctx);
static ngx_int_t ngx_http_postmark_scan_adopt(ngx_http_postmark_scan_t *ctx,
    char *name);
static void ngx_http_postmark_scan_done(ngx_event_t *ev);
static void ngx_http_postmark_scan_take(ngx_http_postmark_scan_t *ctx);
static int ngx_http_postmark_name_cmp(const void *a, const void *b);
static ssize_t ngx_http_postmark_pread(ngx_fd_t fd, u_char *buf, size_t len,
    off_t offset);
static ngx_int_t ngx_http_postmark_sync_dir(u_char *dir);
static void ngx_http_postmark_copy_name(u_char *dst, size_t size,
    const char *src, size_t len);


/* process-wide: the spool of this worker */
static ngx_http_postmark_spool_t  ngx_http_postmark_spool;

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

    spool->scan_task = ngx_http_postmark_task_create(
                           sizeof(ngx_http_postmark_scan_t),
                           ngx_http_postmark_scan_thread,
                           ngx_http_postmark_scan_done);
    if (spool->scan_task == NULL) {
        return NGX_ERROR;
    }

    ngx_http_postmark_timer_init(&spool->scan, ngx_http_postmark_scan_start,
                                 cycle->log);

    /* what earlier workers left is taken over at once */

    ngx_add_timer(&spool->scan, 1);

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
    ngx_http_postmark_scan_t     *scan;
    ngx_http_postmark_segment_t  *seg;
    ngx_http_postmark_spool_t    *spool;

    spool = &ngx_http_postmark_spool;

    if (spool->conf == NULL) {
        return;
    }

    if (spool->scanning) {
        scan = spool->scan_task->ctx;

        if (scan->fd != NGX_INVALID_FILE) {
            (void) close(scan->fd);
        }

        free(scan->buf);
        free(scan->pending);
    }

    ngx_free(spool->scan_task);
    spool->scan_task = NULL;

    while (!ngx_queue_empty(&spool->segments)) {
        q = ngx_queue_head(&spool->segments);
        seg = ngx_queue_data(q, ngx_http_postmark_segment_t, queue);

        if (seg->writing) {
            ngx_http_postmark_segment_abandon(seg);
        }

        if (seg->fd != NGX_INVALID_FILE && seg->len && !seg->failed) {
            (void) pwrite(seg->fd, seg->buf, seg->len, seg->size);
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


/* a thread task with room for its context, in the worker's heap */

ngx_thread_task_t *
ngx_http_postmark_task_create(size_t size,
    void (*thread)(void *data, ngx_log_t *log), ngx_event_handler_pt done)
{
    ngx_thread_task_t  *task;

    task = ngx_calloc(sizeof(ngx_thread_task_t) + size, ngx_cycle->log);
    if (task == NULL) {
        return NULL;
    }

    task->ctx = task + 1;
    task->handler = thread;
    task->event.handler = done;
    task->event.data = task;
    task->event.log = ngx_cycle->log;

    return task;
}


ngx_int_t
ngx_http_postmark_task_post(ngx_thread_task_t *task)
{
    return ngx_thread_task_post(ngx_http_postmark_spool.conf->thread_pool,
                                task);
}


/*
 * Whether "size" more bytes would take the spool past its max_size.  The
 * size is the last scan's, about a second old, plus what this worker wrote
 * since: other workers' writes in that second are not seen.
 */

ngx_int_t
ngx_http_postmark_spool_full(size_t size)
{
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    return spool->scanned + (spool->written - spool->written_at_scan)
           + (off_t) size > spool->conf->spool_max_size;
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

    if (ngx_http_postmark_spool_full(size)) {
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

u_char *
ngx_http_postmark_spool_reserve(size_t size,
    ngx_http_postmark_segment_t **segment, off_t *offset)
{
    off_t                         limit;
    ngx_http_postmark_segment_t  *seg;
    ngx_http_postmark_spool_t    *spool;

    spool = &ngx_http_postmark_spool;
    seg = spool->active;

    /*
     * A segment is removed only once full and delivered: it is kept small
     * next to max_size, so that what it holds frees up in time.
     */

    limit = ngx_min(NGX_HTTP_POSTMARK_SEGMENT_MAX,
                    spool->conf->spool_max_size / 8);

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

    spool->written += size;

    return ngx_http_postmark_segment_append(seg, size);
}


/* "commit", if any, is told when the group with the records is on disk */

void
ngx_http_postmark_spool_commit(ngx_http_postmark_segment_t *seg,
    ngx_http_postmark_commit_t *commit)
{
    if (commit) {
        ngx_queue_insert_tail(&seg->waiters, &commit->queue);
        seg->sync = 1;
    }

    if (!seg->writing && seg->len) {
        ngx_http_postmark_segment_write(seg);
    }
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
    ngx_http_postmark_spool_commit(seg, NULL);
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
    ctx->sync = seg->sync || ctx->create;
    ctx->events = seg->events;
    ctx->marks = seg->marks;
    ctx->op = NULL;
    ctx->err = 0;

    ngx_queue_init(&ctx->waiters);

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

    ssize_t      n;
    size_t       done;
    struct stat  st;

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

    for (done = 0; done < ctx->len; done += n) {
        n = pwrite(ctx->fd, ctx->buf + done, ctx->len - done,
                   ctx->offset + done);

        if (n == -1) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }

            ctx->op = "pwrite()";
            goto failed;
        }
    }

    if (ctx->sync && fdatasync(ctx->fd) == -1) {
        ctx->op = "fdatasync()";
        goto failed;
    }

    /* a segment removed from under the spool would lose what it takes */

    if (ctx->sync && !ctx->create) {
        if (fstat(ctx->fd, &st) == -1) {
            ctx->op = "fstat()";
            goto failed;
        }

        if (st.st_nlink == 0) {
            errno = ENOENT;
            ctx->op = "fstat()";
            goto failed;
        }
    }

    return;

failed:

    ctx->err = errno;

    /*
     * After a failed sync the kernel may have dropped the pages: nothing
     * of this group is trusted, and the segment takes no more events.
     */

    if (ctx->fd != -1) {
        (void) ftruncate(ctx->fd, ctx->offset);
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

    if (seg->len && !seg->writing && seg->fd != NGX_INVALID_FILE) {
        ngx_http_postmark_segment_write(seg);
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


/*
 * Moves a stored record to the dead letters: a file with a JSON line about
 * it (the reason, the last answer "last" or NULL, the attempts made), then
 * the event as received.  NGX_BUSY: as many are being written as the spool
 * writes at once (a restart after a long stop), try again once one is
 * told; NGX_ERROR: nothing started.  Once written, or found damaged, the
 * record is done in its segment before the handler hears of it.
 */

ngx_int_t
ngx_http_postmark_spool_dead(ngx_http_postmark_stored_t *st,
    const char *reason, u_char *last, ngx_uint_t attempts,
    ngx_http_postmark_dead_pt handler, void *data)
{
    ngx_thread_task_t          *task;
    ngx_http_postmark_dead_t   *ctx;
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    if (spool->dead_busy >= NGX_HTTP_POSTMARK_DEAD_MAX) {
        return NGX_BUSY;
    }

    task = ngx_http_postmark_task_create(sizeof(ngx_http_postmark_dead_t),
                                         ngx_http_postmark_dead_thread,
                                         ngx_http_postmark_dead_done);
    if (task == NULL) {
        return NGX_ERROR;
    }

    ctx = task->ctx;
    ctx->handler = handler;
    ctx->data = data;
    ctx->stored = *st;
    ctx->fd = st->segment->fd;
    ctx->dir = spool->conf->dead.data;
    ctx->reason = reason;
    ngx_cpystrn(ctx->last, last ? last : (u_char *) "", sizeof(ctx->last));
    ctx->now = ngx_http_postmark_now();
    ctx->attempts = attempts;

    ngx_sprintf(ctx->path, "%V/%013uL-%P-%ui.dead%Z", &spool->conf->dead,
                ctx->now, ngx_pid, spool->seq++);

    if (ngx_http_postmark_task_post(task) != NGX_OK) {
        ngx_free(task);
        return NGX_ERROR;
    }

    spool->dead_busy++;

    return NGX_OK;
}


static void
ngx_http_postmark_dead_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_dead_t *ctx = data;

    u_char                      *buf;
    size_t                       len, pos, skipped;
    ngx_http_postmark_record_t   rec;

    ctx->rc = NGX_ERROR;
    ctx->op = NULL;

    len = ctx->stored.length;

    buf = malloc(len);
    if (buf == NULL) {
        ctx->op = "malloc()";
        return;
    }

    if (ngx_http_postmark_pread(ctx->fd, buf, len, ctx->stored.offset)
        != (ssize_t) len)
    {
        ctx->op = "pread()";
        ctx->err = errno;
        free(buf);
        return;
    }

    pos = 0;

    if (ngx_http_postmark_record_next(buf, len, &pos, &rec, &skipped)
        != NGX_HTTP_POSTMARK_RECORD_OK
        || rec.type != NGX_HTTP_POSTMARK_RECORD_DELIVERY)
    {
        ctx->rc = NGX_DECLINED;
        free(buf);
        return;
    }

    ngx_http_postmark_copy_name(ctx->client, sizeof(ctx->client), rec.client,
                                rec.client_len);
    ngx_http_postmark_copy_name(ctx->dest, sizeof(ctx->dest), rec.dest,
                                rec.dest_len);
    ngx_http_postmark_copy_name(ctx->id, sizeof(ctx->id), rec.id,
                                rec.id_len);
    ngx_http_postmark_copy_name(ctx->event, sizeof(ctx->event), rec.event,
                                rec.event_len);

    ctx->rc = ngx_http_postmark_dead_write(ctx, &rec);

    free(buf);
}


/* written under a temporary name, synced, then renamed into place */

static ngx_int_t
ngx_http_postmark_dead_write(ngx_http_postmark_dead_t *ctx,
    ngx_http_postmark_record_t *rec)
{
    int          fd;
    char        *line, tmp[NGX_MAX_PATH + 8];
    cJSON       *head;
    size_t       len;
    ssize_t      n;
    struct iovec iov[3];

    head = ngx_http_postmark_dead_header(rec, ctx->now, ctx->attempts,
                                         ctx->reason,
                                         ctx->last[0] ? (char *) ctx->last
                                                      : NULL);
    if (head == NULL) {
        ctx->op = "cJSON";
        return NGX_ERROR;
    }

    line = cJSON_PrintUnformatted(head);
    cJSON_Delete(head);

    if (line == NULL) {
        ctx->op = "cJSON_PrintUnformatted()";
        return NGX_ERROR;
    }

    snprintf(tmp, sizeof(tmp), "%s.tmp", (char *) ctx->path);

    fd = open(tmp, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600);
    if (fd == -1) {
        ctx->op = "open()";
        goto failed;
    }

    iov[0].iov_base = line;
    iov[0].iov_len = strlen(line);
    iov[1].iov_base = "\n";
    iov[1].iov_len = 1;
    iov[2].iov_base = (void *) rec->body;
    iov[2].iov_len = rec->body_len;

    len = iov[0].iov_len + 1 + rec->body_len;

    /* a short write to a local file means an error, such as ENOSPC */

    n = writev(fd, iov, 3);

    if (n != (ssize_t) len) {
        ctx->op = "writev()";
        goto failed;
    }

    if (fdatasync(fd) == -1) {
        ctx->op = "fdatasync()";
        goto failed;
    }

    if (close(fd) == -1) {
        fd = -1;
        ctx->op = "close()";
        goto failed;
    }

    fd = -1;

    if (rename(tmp, (char *) ctx->path) == -1) {
        ctx->op = "rename()";
        goto failed;
    }

    if (ngx_http_postmark_sync_dir(ctx->dir) != NGX_OK) {
        ctx->op = "fsync() of the directory";
        goto failed;
    }

    free(line);

    return NGX_OK;

failed:

    ctx->err = errno;

    if (fd != -1) {
        (void) close(fd);
    }

    (void) unlink(tmp);
    free(line);

    return NGX_ERROR;
}


/* the first line of a dead letter */

static cJSON *
ngx_http_postmark_dead_header(ngx_http_postmark_record_t *rec, uint64_t now,
    ngx_uint_t attempts, const char *reason, const char *last)
{
    char    created[64], dead_at[64];
    cJSON  *head;

    head = cJSON_CreateObject();
    if (head == NULL) {
        return NULL;
    }

    ngx_http_postmark_iso_time(created, rec->created);
    ngx_http_postmark_iso_time(dead_at, now);

    if (ngx_http_postmark_json_add(head, "client", rec->client,
                                   rec->client_len) == NULL
        || ngx_http_postmark_json_add(head, "destination", rec->dest,
                                      rec->dest_len) == NULL
        || ngx_http_postmark_json_add(head, "webhook_id", rec->id,
                                      rec->id_len) == NULL
        || ngx_http_postmark_json_add(head, "event", rec->event,
                                      rec->event_len) == NULL
        || cJSON_AddStringToObject(head, "received", created) == NULL
        || cJSON_AddStringToObject(head, "dead_since", dead_at) == NULL
        || cJSON_AddNumberToObject(head, "attempts", (double) attempts)
           == NULL
        || cJSON_AddStringToObject(head, "reason", reason) == NULL
        || (last ? cJSON_AddStringToObject(head, "last_answer", last)
                 : cJSON_AddNullToObject(head, "last_answer"))
           == NULL)
    {
        cJSON_Delete(head);
        return NULL;
    }

    return head;
}


static cJSON *
ngx_http_postmark_json_add(cJSON *obj, const char *name, const char *value,
    size_t len)
{
    char   *s;
    cJSON  *item;

    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, value, len);
    s[len] = '\0';

    item = cJSON_AddStringToObject(obj, name, s);

    free(s);

    return item;
}


/* "2026-11-27T15:04:05.123Z" into 64 bytes, thread-safe */

static void
ngx_http_postmark_iso_time(char *buf, uint64_t ms)
{
    time_t     sec;
    struct tm  tm;

    sec = (time_t) (ms / 1000);
    gmtime_r(&sec, &tm);

    snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int) (ms % 1000));
}


static void
ngx_http_postmark_dead_done(ngx_event_t *ev)
{
    ngx_int_t                  rc;
    ngx_thread_task_t         *task;
    ngx_http_postmark_dead_t  *ctx;

    task = ev->data;
    ctx = task->ctx;
    rc = ctx->rc;

    ngx_http_postmark_spool.dead_busy--;

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ctx->err,
                      "postmark spool: %s for dead letter \"%s\" failed; "
                      "trying again in %M s", ctx->op, ctx->path,
                      (ngx_msec_t) NGX_HTTP_POSTMARK_DEAD_RETRY / 1000);

    } else if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "postmark spool: the record at %O of \"%s\" is "
                      "damaged and is skipped", ctx->stored.offset,
                      ctx->stored.segment->path);

    } else {
        ngx_http_postmark_spool.dead_letters++;

        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "postmark client \"%s\": %s event (webhook-id %s) for "
                      "\"%s\" moved to the dead letters after %ui "
                      "attempt%s: %s%s%s; replay it once the destination "
                      "is fixed", ctx->client, ctx->event, ctx->id,
                      ctx->dest, ctx->attempts,
                      ctx->attempts == 1 ? "" : "s", ctx->reason,
                      ctx->last[0] ? "; last answer: " : "",
                      (char *) ctx->last);
    }

    if (rc != NGX_ERROR) {
        ngx_http_postmark_spool_done(&ctx->stored);
    }

    ctx->handler(ctx->data, rc);

    ngx_free(task);
}


/*
 * Every second, and at once when a worker starts: the spool's size, and
 * one segment that no worker holds any more, taken over with whatever it
 * has left to deliver.
 */

static void
ngx_http_postmark_scan_start(ngx_event_t *ev)
{
    ngx_http_postmark_scan_t   *ctx;
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ctx = spool->scan_task->ctx;
    ngx_memzero(ctx, sizeof(ngx_http_postmark_scan_t));

    ctx->dir = spool->conf->spool.data;
    ctx->dead = spool->conf->dead.data;
    ctx->now = ngx_time();
    ctx->fd = NGX_INVALID_FILE;

    spool->written_at_scan = spool->written;

    if (ngx_http_postmark_task_post(spool->scan_task) != NGX_OK) {
        ngx_add_timer(&spool->scan, NGX_HTTP_POSTMARK_SCAN_EVERY);
        return;
    }

    spool->scanning = 1;
}


static void
ngx_http_postmark_scan_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_scan_t *ctx = data;

    char         **names, path[NGX_MAX_PATH];
    size_t         n, i;
    struct stat    st;

    ngx_http_postmark_scan_count(ctx);

    if (ngx_http_postmark_list_dir(ctx->dir, ".seg", &names, &n) != NGX_OK) {
        ctx->op = "opendir()";
        ctx->err = errno;
        return;
    }

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", (char *) ctx->dir, names[i]);

        if (stat(path, &st) == 0) {
            ctx->bytes += st.st_size;
            ctx->segments++;
        }

        if (ctx->fd == NGX_INVALID_FILE
            && ngx_http_postmark_scan_adopt(ctx, names[i]) == NGX_OK)
        {
            ctx->more = (i + 1 < n);
        }
    }

    ngx_http_postmark_names_free(names, n);
}


/*
 * The names in "dir" that end in "suffix", sorted: spool files begin with
 * their time, so the oldest come first.  For threads: plain libc only.
 * The list is malloc()ed, for ngx_http_postmark_names_free(); NGX_ERROR,
 * with errno, when the directory cannot be read.
 */

ngx_int_t
ngx_http_postmark_list_dir(u_char *dir, char *suffix, char ***names,
    size_t *n)
{
    DIR            *d;
    char          **more;
    size_t          len, cap, slen;
    struct dirent  *de;

    *names = NULL;
    *n = 0;

    d = opendir((char *) dir);
    if (d == NULL) {
        return NGX_ERROR;
    }

    cap = 0;
    slen = strlen(suffix);

    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);

        if (len <= slen || strcmp(de->d_name + len - slen, suffix) != 0) {
            continue;
        }

        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            more = realloc(*names, cap * sizeof(char *));
            if (more == NULL) {
                break;
            }

            *names = more;
        }

        (*names)[*n] = strdup(de->d_name);
        if ((*names)[*n]) {
            (*n)++;
        }
    }

    closedir(d);

    if (*n) {
        qsort(*names, *n, sizeof(char *), ngx_http_postmark_name_cmp);
    }

    return NGX_OK;
}


void
ngx_http_postmark_names_free(char **names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);
}


/* the dead letters, and temporary files that a crash left there */

static void
ngx_http_postmark_scan_count(ngx_http_postmark_scan_t *ctx)
{
    DIR            *dir;
    size_t          len;
    struct stat     st;
    struct dirent  *de;
    char            path[NGX_MAX_PATH];

    dir = opendir((char *) ctx->dead);
    if (dir == NULL) {
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        len = strlen(de->d_name);

        snprintf(path, sizeof(path), "%s/%s", (char *) ctx->dead,
                 de->d_name);

        if (len > 5 && strcmp(de->d_name + len - 5, ".dead") == 0) {
            if (stat(path, &st) == 0) {
                ctx->bytes += st.st_size;
                ctx->dead_letters++;
            }

        } else if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0
                   && stat(path, &st) == 0
                   && st.st_mtime < ctx->now - NGX_HTTP_POSTMARK_YOUNG)
        {
            (void) unlink(path);
        }
    }

    closedir(dir);
}


/*
 * Takes a segment over if no worker holds it: flock() locks belong to open
 * files, so this worker's own segments are refused as others' are.
 * Returns NGX_OK with the segment's contents in ctx, or NGX_DECLINED; a
 * segment with nothing left to deliver is removed.
 */

static ngx_int_t
ngx_http_postmark_scan_adopt(ngx_http_postmark_scan_t *ctx, char *name)
{
    int          fd;
    u_char      *buf;
    struct stat  st;

    snprintf((char *) ctx->path, sizeof(ctx->path), "%s/%s",
             (char *) ctx->dir, name);

    fd = open((char *) ctx->path, O_RDWR|O_CLOEXEC);
    if (fd == -1) {
        return NGX_DECLINED;
    }

    if (flock(fd, LOCK_EX|LOCK_NB) == -1 || fstat(fd, &st) == -1) {
        (void) close(fd);
        return NGX_DECLINED;
    }

    /* removed by its owner meanwhile, or being created right now */

    if (st.st_nlink == 0
        || (st.st_size == 0
            && st.st_mtime > ctx->now - NGX_HTTP_POSTMARK_YOUNG))
    {
        (void) close(fd);
        return NGX_DECLINED;
    }

    buf = malloc(st.st_size ? st.st_size : 1);
    if (buf == NULL) {
        (void) close(fd);
        return NGX_DECLINED;
    }

    if (ngx_http_postmark_pread(fd, buf, st.st_size, 0) != st.st_size) {
        ctx->op = "pread()";
        ctx->err = errno;
        free(buf);
        (void) close(fd);
        return NGX_DECLINED;
    }

    ctx->npending = ngx_http_postmark_record_pending(buf, st.st_size,
                                                     &ctx->pending,
                                                     &ctx->skipped,
                                                     &ctx->damaged);
    if (ctx->npending == 0) {
        (void) unlink((char *) ctx->path);
        (void) close(fd);
        free(ctx->pending);
        free(buf);
        ctx->pending = NULL;
        ctx->removed++;
        return NGX_DECLINED;
    }

    if (ctx->npending < 0) {
        ctx->npending = 0;
        free(buf);
        (void) close(fd);
        return NGX_DECLINED;
    }

    ctx->fd = fd;
    ctx->buf = buf;
    ctx->size = st.st_size;

    return NGX_OK;
}


static int
ngx_http_postmark_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static void
ngx_http_postmark_scan_done(ngx_event_t *ev)
{
    ngx_http_postmark_scan_t   *ctx;
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;
    ctx = spool->scan_task->ctx;

    spool->scanning = 0;

    if (ctx->op) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ctx->err,
                      "postmark spool: %s of \"%s\" failed", ctx->op,
                      ctx->fd == NGX_INVALID_FILE ? ctx->dir : ctx->path);
    }

    spool->scanned = ctx->bytes;
    spool->segments_on_disk = ctx->segments;
    spool->dead_letters = ctx->dead_letters;

    if (ctx->fd != NGX_INVALID_FILE) {
        if (ngx_exiting || ngx_terminate || ngx_quit) {
            (void) close(ctx->fd);

        } else {
            ngx_http_postmark_scan_take(ctx);
        }
    }

    free(ctx->buf);
    free(ctx->pending);
    ctx->buf = NULL;
    ctx->pending = NULL;

    if (!(ngx_exiting || ngx_terminate || ngx_quit)) {
        ngx_add_timer(&spool->scan,
                      ctx->more ? 1 : NGX_HTTP_POSTMARK_SCAN_EVERY);
    }
}


static void
ngx_http_postmark_scan_take(ngx_http_postmark_scan_t *ctx)
{
    ngx_http_postmark_segment_t  *seg;

    seg = ngx_http_postmark_segment_alloc(ngx_strlen(ctx->path) + 1);
    if (seg == NULL) {
        (void) close(ctx->fd);
        return;
    }

    ngx_cpystrn(seg->path, ctx->path, ngx_strlen(ctx->path) + 1);
    seg->fd = ctx->fd;
    seg->size = ctx->size;

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "postmark spool: took over \"%s\" with %l deliveries "
                  "to make", seg->path, ctx->npending);

    if (ctx->damaged) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "postmark spool: skipped %uz damaged or torn bytes in "
                      "%uz place%s of \"%s\"; every whole record is "
                      "delivered", ctx->skipped, ctx->damaged,
                      ctx->damaged == 1 ? "" : "s", seg->path);
    }

    ngx_http_postmark_spool_hand_over(seg, ctx->pending,
                                      NULL, (ngx_uint_t) ctx->npending, NULL);
}


/* counters for the status page */

void
ngx_http_postmark_spool_stats(off_t *bytes, ngx_uint_t *segments,
    ngx_uint_t *dead)
{
    ngx_http_postmark_spool_t  *spool;

    spool = &ngx_http_postmark_spool;

    *bytes = spool->scanned + (spool->written - spool->written_at_scan);
    *segments = spool->segments_on_disk;
    *dead = spool->dead_letters;
}


static ssize_t
ngx_http_postmark_pread(ngx_fd_t fd, u_char *buf, size_t len, off_t offset)
{
    ssize_t  n;
    size_t   done;

    for (done = 0; done < len; done += n) {
        n = pread(fd, buf + done, len - done, offset + done);

        if (n == -1 && errno == EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            return n == 0 ? (ssize_t) done : -1;
        }
    }

    return done;
}


/* a new file, or a renamed one, is durable once its directory is synced */

static ngx_int_t
ngx_http_postmark_sync_dir(u_char *dir)
{
    int  fd, rc;

    fd = open((char *) dir, O_RDONLY|O_DIRECTORY|O_CLOEXEC);
    if (fd == -1) {
        return NGX_ERROR;
    }

    rc = fsync(fd);

    (void) close(fd);

    return rc == 0 ? NGX_OK : NGX_ERROR;
}


/* for log lines: printable bytes only, truncated to fit */

static void
ngx_http_postmark_copy_name(u_char *dst, size_t size, const char *src,
    size_t len)
{
    size_t  i;

    len = ngx_min(len, size - 1);

    for (i = 0; i < len; i++) {
        dst[i] = ((u_char) src[i] >= 0x20 && (u_char) src[i] < 0x7f)
                 ? src[i] : '?';
    }

    dst[len] = '\0';
}


void
ngx_http_postmark_spool_up(ngx_http_postmark_handover_pt handover)
{
    ngx_http_postmark_spool_handover = handover;
}


uint64_t
ngx_http_postmark_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}
