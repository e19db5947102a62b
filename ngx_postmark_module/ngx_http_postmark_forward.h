
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Jobs (ngx_http_postmark_forward.c): one event on its way to the
 * destinations that match it, its bytes shared by reference.
 */

#ifndef _NGX_HTTP_POSTMARK_FORWARD_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_FORWARD_H_INCLUDED_


#include "ngx_http_postmark_module.h"
#include "ngx_http_postmark_curl.h"


/* an event's bytes, shared by reference (ngx_http_postmark_forward.c) */

typedef struct {
    u_char                           *data;
    size_t                            len;
    ngx_uint_t                        refs;
    void                             *map;        /* mapped, or in the heap */
    size_t                            map_len;
    void                             *taken;      /* nginx's, taken over */
} ngx_http_postmark_body_t;


/* a job's pool, and so its least memory */

#define NGX_HTTP_POSTMARK_JOB_POOL  4096


/* one received event on its way to the destinations that match it */

typedef struct {
    ngx_http_postmark_dest_t         *dest;
    ngx_http_postmark_fetch_t        *fetch;
    ngx_http_postmark_job_t          *job;
    ngx_str_t                         body;     /* as the destination gets it */
    char                             *error;    /* why it cannot be sent */
    ngx_msec_t                        start;
    ngx_msec_t                        elapsed;
    const char                       *reason;   /* why it failed */
    long                              status;   /* of a failed answer */
    unsigned                          ok:1;
} ngx_http_postmark_delivery_t;

typedef void (*ngx_http_postmark_job_done_pt)(ngx_http_postmark_job_t *job);

struct ngx_http_postmark_job_s {
    ngx_pool_t                       *pool;
    ngx_log_t                        *log;
    ngx_http_postmark_client_t       *client;
    ngx_http_postmark_body_t         *shared;     /* a reference is held */
    ngx_str_t                         body;       /* the event, in shared */
    ngx_str_t                         id;
    ngx_str_t                         event;      /* record type, for logs */

    ngx_array_t                       deliveries; /* of pointers */
    ngx_uint_t                        pending;
    ngx_uint_t                        failed;

    /* destinations that get the event through the spool */
    ngx_array_t                       spooled;    /* of dest pointers */
    ngx_uint_t                        spool_failed;

    ngx_http_postmark_job_done_pt     done;
    void                             *data;

    unsigned                          retry:1;    /* a spooled attempt */
};


ngx_http_postmark_body_t *ngx_http_postmark_body_alloc(size_t len,
    ngx_log_t *log);
ngx_http_postmark_body_t *ngx_http_postmark_body_take(u_char *start,
    size_t len, ngx_log_t *log);
ngx_http_postmark_body_t *ngx_http_postmark_body_map(ngx_fd_t fd,
    off_t offset, size_t len, ngx_log_t *log);
void ngx_http_postmark_body_release(ngx_http_postmark_body_t *b);
ngx_int_t ngx_http_postmark_body_hold(ngx_pool_t *pool,
    ngx_http_postmark_body_t *b);
ngx_http_postmark_job_t *ngx_http_postmark_job_create(
    ngx_http_postmark_client_t *client, ngx_http_postmark_body_t *body,
    ngx_log_t *log);
ngx_int_t ngx_http_postmark_job_digest(ngx_http_postmark_job_t *job,
    u_char *md, ngx_uint_t thread);
ngx_int_t ngx_http_postmark_job_set_id(ngx_http_postmark_job_t *job,
    u_char *md);
ngx_int_t ngx_http_postmark_job_add(ngx_http_postmark_job_t *job,
    ngx_http_postmark_dest_t *dest);
ngx_int_t ngx_http_postmark_job_start(ngx_http_postmark_job_t *job);
void ngx_http_postmark_job_destroy(ngx_http_postmark_job_t *job);
void ngx_http_postmark_delivery_log(ngx_http_postmark_delivery_t *d,
    ngx_uint_t level, const char *then);


#endif /* _NGX_HTTP_POSTMARK_FORWARD_H_INCLUDED_ */
