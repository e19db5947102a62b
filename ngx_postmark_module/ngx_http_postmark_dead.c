
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Dead letters: a stored record moved out of the spool into a file of its
 * own, a JSON line about it (the reason, the last answer), then the event
 * as received.  The record is read back as any other, then written under
 * a temporary name in a thread, synced, and renamed into place; the admin
 * API reads letters back here too, so that one file knows their format.
 */


#include "ngx_http_postmark_spool.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <cjson/cJSON.h>


#define NGX_HTTP_POSTMARK_DEAD_MAX      16      /* written at once */


typedef struct {
    ngx_http_postmark_dead_pt       handler;
    void                           *data;
    ngx_http_postmark_stored_t      stored;
    ngx_http_postmark_record_t      rec;        /* in buf */
    u_char                         *buf;
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
    ngx_int_t                       rc;
    const char                     *op;
    ngx_err_t                       err;
} ngx_http_postmark_dead_t;


static void ngx_http_postmark_dead_read(void *data,
    ngx_http_postmark_record_t *rec, ngx_int_t rc);
static void ngx_http_postmark_dead_thread(void *data, ngx_log_t *log);
static ngx_int_t ngx_http_postmark_dead_write(ngx_http_postmark_dead_t *ctx,
    ngx_http_postmark_record_t *rec);
static cJSON *ngx_http_postmark_dead_header(ngx_http_postmark_record_t *rec,
    uint64_t now, ngx_uint_t attempts, const char *reason, const char *last);
static cJSON *ngx_http_postmark_json_add(cJSON *obj, const char *name,
    const char *value, size_t len);
static void ngx_http_postmark_iso_time(char *buf, uint64_t ms);
static void ngx_http_postmark_dead_done(ngx_event_t *ev);
static void ngx_http_postmark_dead_end(ngx_thread_task_t *task);


/* process-wide: the dead letters being written, and the names' sequence */
static ngx_uint_t  ngx_http_postmark_dead_busy;
static ngx_uint_t  ngx_http_postmark_dead_seq;


/*
 * Moves a stored record to the dead letters, with the last answer "last"
 * (or NULL) and the attempts made.  NGX_BUSY: as many are being written as
 * are written at once (a restart after a long stop), try again once one is
 * told; NGX_ERROR: nothing started.  Once written, or found damaged, the
 * record is done in its segment before the handler hears of it.
 */

ngx_int_t
ngx_http_postmark_dead_letter(ngx_http_postmark_stored_t *st,
    const char *reason, u_char *last, ngx_uint_t attempts,
    ngx_http_postmark_dead_pt handler, void *data)
{
    ngx_thread_task_t              *task;
    ngx_http_postmark_dead_t       *ctx;
    ngx_http_postmark_main_conf_t  *pmcf;

    if (ngx_http_postmark_dead_busy >= NGX_HTTP_POSTMARK_DEAD_MAX) {
        return NGX_BUSY;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_postmark_module);

    /* the record is read into the room after the context */

    task = ngx_http_postmark_task_create(sizeof(ngx_http_postmark_dead_t)
                                         + st->length,
                                         ngx_http_postmark_dead_thread,
                                         ngx_http_postmark_dead_done);
    if (task == NULL) {
        return NGX_ERROR;
    }

    ctx = task->ctx;
    ctx->handler = handler;
    ctx->data = data;
    ctx->stored = *st;
    ctx->buf = (u_char *) (ctx + 1);
    ctx->dir = pmcf->dead.data;
    ctx->reason = reason;
    ngx_cpystrn(ctx->last, last ? last : (u_char *) "", sizeof(ctx->last));
    ctx->now = ngx_http_postmark_now();
    ctx->attempts = attempts;

    ngx_sprintf(ctx->path, "%V/%013uL-%P-%ui.dead%Z", &pmcf->dead,
                ctx->now, ngx_pid, ngx_http_postmark_dead_seq++);

    if (ngx_http_postmark_spool_read(st, ctx->buf, ngx_http_postmark_dead_read,
                                     task)
        != NGX_OK)
    {
        ngx_free(task);
        return NGX_ERROR;
    }

    ngx_http_postmark_dead_busy++;

    return NGX_OK;
}


/* the record is read back (a damaged one is logged there): now its file */

static void
ngx_http_postmark_dead_read(void *data, ngx_http_postmark_record_t *rec,
    ngx_int_t rc)
{
    ngx_thread_task_t *task = data;

    ngx_http_postmark_dead_t  *ctx;

    ctx = task->ctx;

    if (rec == NULL) {
        ctx->rc = rc;
        ctx->op = "reading its record";
        ngx_http_postmark_dead_end(task);
        return;
    }

    ctx->rec = *rec;

    ngx_http_postmark_printable(ctx->client, sizeof(ctx->client),
                                rec->client, rec->client_len, '?');
    ngx_http_postmark_printable(ctx->dest, sizeof(ctx->dest), rec->dest,
                                rec->dest_len, '?');
    ngx_http_postmark_printable(ctx->id, sizeof(ctx->id), rec->id,
                                rec->id_len, '?');
    ngx_http_postmark_printable(ctx->event, sizeof(ctx->event), rec->event,
                                rec->event_len, '?');

    if (ngx_http_postmark_task_post(task) != NGX_OK) {
        ctx->rc = NGX_ERROR;
        ctx->op = "posting a thread task";
        ngx_http_postmark_dead_end(task);
    }
}


static void
ngx_http_postmark_dead_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_dead_t *ctx = data;

    ctx->op = NULL;
    ctx->rc = ngx_http_postmark_dead_write(ctx, &ctx->rec);
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
    ngx_http_postmark_dead_end(ev->data);
}


static void
ngx_http_postmark_dead_end(ngx_thread_task_t *task)
{
    ngx_int_t                  rc;
    ngx_http_postmark_dead_t  *ctx;

    ctx = task->ctx;
    rc = ctx->rc;

    ngx_http_postmark_dead_busy--;

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ctx->err,
                      "postmark spool: %s for dead letter \"%s\" failed; "
                      "trying again in %M s", ctx->op, ctx->path,
                      (ngx_msec_t) NGX_HTTP_POSTMARK_DEAD_RETRY / 1000);

    } else if (rc == NGX_OK) {
        ngx_http_postmark_spool_count_dead();

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

    /* a damaged record (NGX_DECLINED) has nothing to deliver either */

    if (rc != NGX_ERROR) {
        ngx_http_postmark_spool_done(&ctx->stored);
    }

    ctx->handler(ctx->data, rc);

    ngx_free(task);
}


/*
 * A dead letter read back whole, for threads: its first line, a JSON
 * object, then the event as a record.  NGX_DECLINED when it cannot be
 * opened (gone meanwhile) or no memory is had; NGX_ERROR when it cannot be
 * read or makes no sense.
 */

ngx_int_t
ngx_http_postmark_letter_read(char *path, ngx_http_postmark_letter_t *letter)
{
    int            fd;
    char          *nl;
    cJSON         *h, *client, *dest, *id, *event;
    size_t         i;
    ssize_t        n;
    struct stat    st;

    ngx_memzero(letter, sizeof(ngx_http_postmark_letter_t));

    fd = open(path, O_RDONLY|O_CLOEXEC);
    if (fd == -1) {
        return NGX_DECLINED;
    }

    if (fstat(fd, &st) == -1 || st.st_size == 0) {
        (void) close(fd);
        return NGX_ERROR;
    }

    letter->data = malloc(st.st_size + 1);
    if (letter->data == NULL) {
        (void) close(fd);
        return NGX_DECLINED;
    }

    n = read(fd, letter->data, st.st_size);
    (void) close(fd);

    if (n != st.st_size) {
        goto invalid;
    }

    letter->data[n] = '\0';
    letter->size = n;

    nl = memchr(letter->data, '\n', n);
    if (nl == NULL) {
        goto invalid;
    }

    h = cJSON_ParseWithLength(letter->data, nl - letter->data);

    client = cJSON_GetObjectItemCaseSensitive(h, "client");
    dest = cJSON_GetObjectItemCaseSensitive(h, "destination");
    id = cJSON_GetObjectItemCaseSensitive(h, "webhook_id");
    event = cJSON_GetObjectItemCaseSensitive(h, "event");

    if (!cJSON_IsString(client) || !cJSON_IsString(dest)
        || !cJSON_IsString(id) || !cJSON_IsString(event)
        || strlen(client->valuestring) > NGX_HTTP_POSTMARK_RECORD_NAME_MAX
        || strlen(dest->valuestring) > NGX_HTTP_POSTMARK_RECORD_NAME_MAX
        || strlen(id->valuestring) > 64 || strlen(event->valuestring) > 64)
    {
        cJSON_Delete(h);
        goto invalid;
    }

    /* the event must stay free of the bytes that frame records */

    for (i = nl + 1 - letter->data; i < (size_t) n; i++) {
        if ((u_char) letter->data[i] < 0x20 && letter->data[i] != '\t'
            && letter->data[i] != '\r' && letter->data[i] != '\n')
        {
            cJSON_Delete(h);
            goto invalid;
        }
    }

    letter->rec.client = client->valuestring;
    letter->rec.client_len = strlen(client->valuestring);
    letter->rec.dest = dest->valuestring;
    letter->rec.dest_len = strlen(dest->valuestring);
    letter->rec.id = id->valuestring;
    letter->rec.id_len = strlen(id->valuestring);
    letter->rec.event = event->valuestring;
    letter->rec.event_len = strlen(event->valuestring);
    letter->rec.body = nl + 1;
    letter->rec.body_len = letter->data + n - (nl + 1);

    letter->head = h;

    return NGX_OK;

invalid:

    free(letter->data);
    letter->data = NULL;

    return NGX_ERROR;
}


void
ngx_http_postmark_letter_free(ngx_http_postmark_letter_t *letter)
{
    cJSON_Delete(letter->head);
    free(letter->data);

    letter->head = NULL;
    letter->data = NULL;
}
