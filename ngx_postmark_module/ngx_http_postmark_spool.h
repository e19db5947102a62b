
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The spool (ngx_http_postmark_spool.c): records on local disk, written
 * in groups, read back, marked done, moved to the dead letters, and
 * handed to the layer above; and the worker's thread tasks.
 */

#ifndef _NGX_HTTP_POSTMARK_SPOOL_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_SPOOL_H_INCLUDED_


#include "ngx_http_postmark_module.h"
#include "ngx_http_postmark_record.h"
#include "ngx_http_postmark_file.h"


/* what waits for a group of records to be on disk */

typedef void (*ngx_http_postmark_commit_pt)(void *data, ngx_int_t rc);

typedef struct {
    ngx_queue_t                       queue;
    ngx_http_postmark_commit_pt       handler;
    void                             *data;
} ngx_http_postmark_commit_t;


/* deliveries written to the spool together */

typedef struct {
    ngx_http_postmark_record_t       *recs;       /* offsets set when written */
    ngx_http_postmark_dest_t        **dests;
    ngx_uint_t                        n;
    ngx_http_postmark_job_t          *fresh;      /* has the body in memory */
    ngx_http_postmark_commit_t       *commit;     /* told when on disk */

    ngx_http_postmark_commit_t        own;
    ngx_http_postmark_segment_t      *segment;
    off_t                             offset;
} ngx_http_postmark_batch_t;


/*
 * Where a delivery's record is in the spool: the spool's part of a
 * pending delivery, kept by the layer that schedules it.
 */

typedef struct {
    ngx_http_postmark_segment_t      *segment;
    off_t                             offset;
    uint32_t                          length;
} ngx_http_postmark_stored_t;

#define ngx_http_postmark_stored_set(st, seg, rec)                          \
    do {                                                                     \
        (st)->segment = (seg);                                               \
        (st)->offset = (rec)->offset;                                        \
        (st)->length = (uint32_t) (rec)->length;                             \
    } while (0)


/* how long a dead letter that could not be written waits to try again */

#define NGX_HTTP_POSTMARK_DEAD_RETRY  60000


typedef void (*ngx_http_postmark_read_pt)(void *data,
    ngx_http_postmark_record_t *rec, ngx_int_t rc);
typedef void (*ngx_http_postmark_dead_pt)(void *data, ngx_int_t rc);


/*
 * Records on disk, handed to the layer that schedules deliveries, set by
 * that layer when the worker starts: a new batch's, with its destinations
 * and its "fresh" job, or a taken-over segment's, with neither.  The spool
 * stores, reads back, marks done and moves to the dead letters what it is
 * told to, and calls nothing above it.
 */

typedef void (*ngx_http_postmark_handover_pt)(
    ngx_http_postmark_segment_t *segment, ngx_http_postmark_record_t *recs,
    ngx_http_postmark_dest_t **dests, ngx_uint_t n,
    ngx_http_postmark_job_t *fresh);

void ngx_http_postmark_spool_up(ngx_http_postmark_handover_pt handover);
ngx_int_t ngx_http_postmark_spool_init(ngx_cycle_t *cycle);
void ngx_http_postmark_spool_exit(ngx_cycle_t *cycle);
ngx_int_t ngx_http_postmark_spool_write(ngx_http_postmark_batch_t *b);
ngx_int_t ngx_http_postmark_spool_read(ngx_http_postmark_stored_t *st,
    u_char *buf, ngx_http_postmark_read_pt handler, void *data);
void ngx_http_postmark_spool_done(ngx_http_postmark_stored_t *st);
void ngx_http_postmark_spool_measured(ngx_uint_t segments,
    ngx_uint_t dead);
ngx_int_t ngx_http_postmark_spool_adopt(u_char *path, ngx_fd_t fd, off_t size,
    ngx_http_postmark_record_t *recs, ngx_uint_t n);
void ngx_http_postmark_spool_count_dead(void);
void ngx_http_postmark_spool_stats(off_t *bytes, ngx_uint_t *segments,
    ngx_uint_t *dead);

/* a dead letter read back (ngx_http_postmark_dead.c) */

typedef struct {
    char                             *name;
    struct cJSON                     *head;       /* its first line */
    char                             *data;       /* the whole file */
    size_t                            size;
    ngx_http_postmark_record_t        rec;        /* into head and data */
} ngx_http_postmark_letter_t;

ngx_int_t ngx_http_postmark_dead_letter(ngx_http_postmark_stored_t *st,
    const char *reason, u_char *last, ngx_uint_t attempts,
    ngx_http_postmark_dead_pt handler, void *data);

ngx_int_t ngx_http_postmark_letter_read(char *path,
    ngx_http_postmark_letter_t *letter);
void ngx_http_postmark_letter_free(ngx_http_postmark_letter_t *letter);

ngx_int_t ngx_http_postmark_scan_init(ngx_cycle_t *cycle);
void ngx_http_postmark_scan_exit(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_POSTMARK_SPOOL_H_INCLUDED_ */
