
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Scans of the spool, every second and at once when a worker starts, in
 * a thread: the spool's size, the dead letters, temporary files a crash
 * left, and one segment that no worker holds any more, taken over with
 * whatever it has left to deliver.
 */


#include "ngx_http_postmark_spool.h"
#include "ngx_http_postmark_file.h"
#include "ngx_http_postmark_stats.h"

#include <sys/file.h>


#define NGX_HTTP_POSTMARK_SCAN_EVERY    1000
#define NGX_HTTP_POSTMARK_YOUNG         60      /* seconds */


typedef struct {
    u_char                         *dir;
    u_char                         *dead;
    time_t                          now;
    ngx_uint_t                      exiting;

    off_t                           bytes;
    ngx_atomic_uint_t               mark;       /* written, when it began */
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
    ngx_http_postmark_main_conf_t  *conf;
    ngx_event_t                     timer;
    ngx_thread_task_t              *task;
    ngx_uint_t                      scanning;
} ngx_http_postmark_scans_t;


static void ngx_http_postmark_scan_start(ngx_event_t *ev);
static void ngx_http_postmark_scan_thread(void *data, ngx_log_t *log);
static ngx_int_t ngx_http_postmark_scan_dead(void *data, char *name);
static ngx_int_t ngx_http_postmark_scan_adopt(ngx_http_postmark_scan_t *ctx,
    char *name);
static void ngx_http_postmark_scan_done(ngx_event_t *ev);
static void ngx_http_postmark_scan_take(ngx_http_postmark_scan_t *ctx);


/* process-wide: this worker's scans */
static ngx_http_postmark_scans_t  ngx_http_postmark_scans;


ngx_int_t
ngx_http_postmark_scan_init(ngx_cycle_t *cycle)
{
    ngx_http_postmark_scans_t      *scans;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_postmark_module);

    if (pmcf->spool.len == 0) {
        return NGX_OK;
    }

    scans = &ngx_http_postmark_scans;
    scans->conf = pmcf;

    scans->task = ngx_http_postmark_task_create(
                      sizeof(ngx_http_postmark_scan_t),
                      ngx_http_postmark_scan_thread,
                      ngx_http_postmark_scan_done);
    if (scans->task == NULL) {
        return NGX_ERROR;
    }

    ngx_http_postmark_timer_init(&scans->timer, ngx_http_postmark_scan_start,
                                 cycle->log);

    /* what earlier workers left is taken over at once */

    ngx_add_timer(&scans->timer, 1);

    return NGX_OK;
}


/* a scan under way at exit will never be heard of: the pools are done */

void
ngx_http_postmark_scan_exit(ngx_cycle_t *cycle)
{
    ngx_http_postmark_scan_t   *ctx;
    ngx_http_postmark_scans_t  *scans;

    scans = &ngx_http_postmark_scans;

    if (scans->task == NULL) {
        return;
    }

    ngx_http_postmark_timer_stop(&scans->timer);

    if (scans->scanning) {
        ctx = scans->task->ctx;

        if (ctx->fd != NGX_INVALID_FILE) {
            (void) close(ctx->fd);
        }

        free(ctx->buf);
        free(ctx->pending);
    }

    ngx_free(scans->task);
    scans->task = NULL;
}


/* what this worker wrote from now on is not in what the scan measures */

static void
ngx_http_postmark_scan_start(ngx_event_t *ev)
{
    ngx_http_postmark_scan_t   *ctx;
    ngx_http_postmark_scans_t  *scans;

    scans = &ngx_http_postmark_scans;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ctx = scans->task->ctx;
    ngx_memzero(ctx, sizeof(ngx_http_postmark_scan_t));

    ctx->dir = scans->conf->spool.data;
    ctx->dead = scans->conf->dead.data;
    ctx->now = ngx_time();
    ctx->fd = NGX_INVALID_FILE;

    /* what is written from now on is not in what the scan measures */

    ctx->mark = ngx_http_postmark_stats_spool_mark();

    if (ngx_http_postmark_task_post(scans->task) != NGX_OK) {
        ngx_add_timer(&scans->timer, NGX_HTTP_POSTMARK_SCAN_EVERY);
        return;
    }

    scans->scanning = 1;
}


static void
ngx_http_postmark_scan_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_scan_t *ctx = data;

    char         **names, path[NGX_MAX_PATH];
    size_t         n, i;
    struct stat    st;

    (void) ngx_http_postmark_walk_dir(ctx->dead, NULL,
                                      ngx_http_postmark_scan_dead, ctx);

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


/* the dead letters, and temporary files that a crash left there */

static ngx_int_t
ngx_http_postmark_scan_dead(void *data, char *name)
{
    ngx_http_postmark_scan_t *ctx = data;

    size_t       len;
    struct stat  st;
    char         path[NGX_MAX_PATH];

    len = strlen(name);

    snprintf(path, sizeof(path), "%s/%s", (char *) ctx->dead, name);

    if (len > 5 && strcmp(name + len - 5, ".dead") == 0) {
        if (stat(path, &st) == 0) {
            ctx->bytes += st.st_size;
            ctx->dead_letters++;
        }

    } else if (len > 4 && strcmp(name + len - 4, ".tmp") == 0
               && stat(path, &st) == 0
               && st.st_mtime < ctx->now - NGX_HTTP_POSTMARK_YOUNG)
    {
        (void) unlink(path);
    }

    return NGX_OK;
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
    size_t       end;
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
                                                     &ctx->damaged, &end);
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

    /* done marks go where the records end, over the room after them */

    ctx->fd = fd;
    ctx->buf = buf;
    ctx->size = end;

    return NGX_OK;
}


static void
ngx_http_postmark_scan_done(ngx_event_t *ev)
{
    ngx_http_postmark_scan_t   *ctx;
    ngx_http_postmark_scans_t  *scans;

    scans = &ngx_http_postmark_scans;
    ctx = scans->task->ctx;

    scans->scanning = 0;

    if (ctx->op) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ctx->err,
                      "postmark spool: %s of \"%s\" failed", ctx->op,
                      ctx->fd == NGX_INVALID_FILE ? ctx->dir : ctx->path);
    }

    ngx_http_postmark_spool_measured(ctx->segments, ctx->dead_letters);
    ngx_http_postmark_stats_spool(ctx->bytes, ctx->segments,
                                  ctx->dead_letters, ctx->mark);

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
        ngx_add_timer(&scans->timer,
                      ctx->more ? 1 : NGX_HTTP_POSTMARK_SCAN_EVERY);
    }
}


static void
ngx_http_postmark_scan_take(ngx_http_postmark_scan_t *ctx)
{
    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "postmark spool: took over \"%s\" with %l deliveries "
                  "to make", ctx->path, ctx->npending);

    if (ctx->damaged) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "postmark spool: skipped %uz damaged or torn bytes in "
                      "%uz place%s of \"%s\"; every whole record is "
                      "delivered", ctx->skipped, ctx->damaged,
                      ctx->damaged == 1 ? "" : "s", ctx->path);
    }

    if (ngx_http_postmark_spool_adopt(ctx->path, ctx->fd, ctx->size,
                                      ctx->pending,
                                      (ngx_uint_t) ctx->npending)
        != NGX_OK)
    {
        (void) close(ctx->fd);
    }
}
