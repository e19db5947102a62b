
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Spooled deliveries (ngx_http_postmark_retry.c): the retry layer owns
 * them, one per event and spooled destination, in an outbox per
 * destination and worker.
 */

#ifndef _NGX_HTTP_POSTMARK_RETRY_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_RETRY_H_INCLUDED_


#include "ngx_http_postmark_module.h"
#include "ngx_http_postmark_spool.h"


/*
 * The last answer of a destination, shared by the deliveries it was the
 * last answer of: a destination that is down answers all of them alike.
 */

typedef struct {
    ngx_uint_t                        refs;
    u_char                            text[1];
} ngx_http_postmark_note_t;


/*
 * A delivery in the spool, not yet done, owned by the retry layer: the
 * worker keeps one per event and spooled destination, so it is small (120
 * bytes, in blocks), and its timer is a node of the retry layer's own tree.
 */

typedef struct {
    ngx_rbtree_node_t                 due;        /* when looked at next */
    ngx_queue_t                       queue;      /* ready, or waiting */
    ngx_http_postmark_stored_t        stored;     /* the spool's part */
    ngx_http_postmark_outbox_t       *outbox;     /* NULL: destination gone */
    uint64_t                          created;    /* ms since the epoch */
    ngx_http_postmark_note_t         *last;       /* the last answer, or NULL */
    ngx_http_postmark_job_t          *job;        /* the attempt under way */
    uint32_t                          attempts:24;
    uint32_t                          dead:3;     /* why, when it failed */
    uint32_t                          used:1;     /* its block slot */
    uint32_t                          timed:1;    /* "due" is in the tree */
    uint32_t                          ready:1;
    uint32_t                          busy:1;
    uint32_t                          reserved:1; /* room in its lane */
    uint32_t                          reading:1;  /* its record, in a thread */
    uint32_t                          parked:1;   /* "job" has its event */
} ngx_http_postmark_pending_t;


/*
 * First attempts that cannot start at once wait with their event in
 * memory, up to this much in a worker, their jobs' pools counted.
 */

#define NGX_HTTP_POSTMARK_PARKED_MAX  (4 * 1024 * 1024)


/* a destination's spooled deliveries in this worker */

struct ngx_http_postmark_outbox_s {
    ngx_http_postmark_dest_t         *dest;
    ngx_queue_t                       ready;
    ngx_uint_t                        pending;    /* all, in any state */
    ngx_uint_t                        busy;       /* attempts under way */
    ngx_event_t                       resume;
    ngx_uint_t                        delivered;
    ngx_uint_t                        dead;
    ngx_http_postmark_note_t         *note;       /* its last answer */
    uint64_t                          oldest;     /* of the walk, or 0 */
    unsigned                          dispatching:1;
    unsigned                          probing:1;  /* this worker's probe */
};


typedef void (*ngx_http_postmark_pending_pt)(ngx_http_postmark_pending_t *p);

void ngx_http_postmark_pending_init(ngx_http_postmark_pending_pt due,
    ngx_log_t *log);
void ngx_http_postmark_pending_exit(ngx_http_postmark_pending_pt each);
ngx_http_postmark_pending_t *ngx_http_postmark_pending_alloc(void);
void ngx_http_postmark_pending_free(ngx_http_postmark_pending_t *p);
ngx_uint_t ngx_http_postmark_pending_walk(ngx_uint_t blocks,
    ngx_http_postmark_pending_pt each);
void ngx_http_postmark_due_add(ngx_http_postmark_pending_t *p,
    ngx_msec_t after);
void ngx_http_postmark_due_del(ngx_http_postmark_pending_t *p);

ngx_int_t ngx_http_postmark_retry_init(ngx_cycle_t *cycle);
void ngx_http_postmark_retry_exit(ngx_cycle_t *cycle);
ngx_http_postmark_dest_t *ngx_http_postmark_spooled_dest(
    ngx_array_t *by_name, ngx_http_postmark_record_t *rec);
ngx_http_postmark_outbox_t *ngx_http_postmark_retry_outbox(
    ngx_http_postmark_record_t *rec);
ngx_http_postmark_outbox_t *ngx_http_postmark_retry_outboxes(ngx_uint_t *n);


#endif /* _NGX_HTTP_POSTMARK_RETRY_H_INCLUDED_ */
