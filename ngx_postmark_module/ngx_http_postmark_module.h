
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_MODULE_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <curl/curl.h>

#include "ngx_http_postmark_answer.h"
#include "ngx_http_postmark_event.h"
#include "ngx_http_postmark_json.h"
#include "ngx_http_postmark_record.h"
#include "ngx_http_postmark_route.h"
#include "ngx_http_postmark_sign.h"
#include "ngx_http_postmark_trim.h"


#define NGX_HTTP_POSTMARK_VERSION     "0.1.0"
#define NGX_HTTP_POSTMARK_USER_AGENT  "ngx_postmark_module/"                 \
                                      NGX_HTTP_POSTMARK_VERSION

#define NGX_HTTP_POSTMARK_HASH_LEN    32

/*
 * Contexts of the directives inside "postmark_client" and "forward"
 * blocks.  The bits are unused by nginx's own contexts; they keep these
 * directives out of every other block.
 */

#define NGX_HTTP_POSTMARK_CLIENT_CONF   0x00200000
#define NGX_HTTP_POSTMARK_FORWARD_CONF  0x00400000


typedef struct ngx_http_postmark_client_s  ngx_http_postmark_client_t;
typedef struct ngx_http_postmark_fetch_s   ngx_http_postmark_fetch_t;
typedef struct ngx_http_postmark_job_s     ngx_http_postmark_job_t;
typedef struct ngx_http_postmark_segment_s ngx_http_postmark_segment_t;
typedef struct ngx_http_postmark_outbox_s  ngx_http_postmark_outbox_t;
typedef struct ngx_http_postmark_conn_s    ngx_http_postmark_conn_t;


#define NGX_HTTP_POSTMARK_KEYS_MAX    8


/*
 * A lane of the outbound engine: a destination, or the calls to
 * Postmark's API.  Its transfers are counted, capped, and wait in it for
 * room (ngx_http_postmark_curl.c).
 */

typedef struct ngx_http_postmark_lane_s  ngx_http_postmark_lane_t;

typedef void (*ngx_http_postmark_wake_pt)(ngx_http_postmark_lane_t *lane);

struct ngx_http_postmark_lane_s {
    ngx_queue_t                   waiting;      /* fetches */
    ngx_queue_t                   queue;        /* among blocked lanes */
    ngx_uint_t                    transfers;    /* under way or reserved */
    ngx_uint_t                    reserved;
    ngx_uint_t                    max;          /* 0: none of its own */
    ngx_http_postmark_wake_pt     wake;         /* told of room, or NULL */
    void                         *data;
    unsigned                      api:1;
    unsigned                      busy:1;
    unsigned                      blocked:1;
};


#define NGX_HTTP_POSTMARK_DIRECT      0
#define NGX_HTTP_POSTMARK_SPOOLED     1


/* how a destination is delivered to; a client holds the defaults */

typedef struct {
    ngx_uint_t                    delivery;     /* direct or spooled */
    ngx_msec_t                    max_age;
    ngx_msec_t                    backoff_first;
    ngx_msec_t                    backoff_max;
    ngx_uint_t                    max_concurrent;
    ngx_uint_t                    breaker_failures;   /* 0: no breaker */
    ngx_msec_t                    breaker_wait;
} ngx_http_postmark_policy_t;


typedef struct {
    ngx_str_t                     url;          /* NUL-terminated */
    ngx_str_t                     display;      /* no credentials, no query */
    ngx_http_postmark_filter_t    filter;
    struct curl_slist            *headers;      /* in the configuration pool */
    ngx_str_t                     head;         /* a forward's, to send */
    ngx_msec_t                    timeout;
    ngx_http_postmark_client_t   *client;

    /* signed forwards: one signature per secret */
    ngx_http_postmark_key_t      *keys;
    ngx_uint_t                    nkeys;

    /* members removed from the forwarded JSON */
    ngx_http_postmark_path_t     *paths;
    ngx_uint_t                    npaths;

    /* TLS, read when the configuration is loaded */
    struct curl_blob              ca;
    struct curl_blob              cert;
    struct curl_blob              cert_key;
    long                          tls_version;

    ngx_str_t                     proxy;        /* NUL-terminated, or empty */
    ngx_str_t                     proxy_display;

    ngx_http_postmark_policy_t    policy;
    ngx_http_postmark_lane_t      lane;         /* of this worker */
    ngx_queue_t                   idle;         /* its kept connections */
    ngx_uint_t                    nidle;
    ngx_uint_t                    index;        /* among spooled ones */
    u_char                       *file;
    ngx_uint_t                    line;
} ngx_http_postmark_dest_t;




struct ngx_http_postmark_client_s {
    ngx_str_node_t                node;         /* by name, in the tree */
    ngx_str_t                     name;
    u_char                       *file;
    ngx_uint_t                    line;

    /* the webhook receiver */
    ngx_str_t                     webhook_user;
    u_char                        user_hash[NGX_HTTP_POSTMARK_HASH_LEN];
    u_char                        password_hash[NGX_HTTP_POSTMARK_HASH_LEN];
    unsigned                      has_password:1;
    ngx_array_t                   dests;        /* ngx_http_postmark_dest_t */

    ngx_str_t                     proxy;        /* destinations' default */
    ngx_str_t                     proxy_display;
    ngx_http_postmark_policy_t    policy;       /* destinations' default */

    /* its portal: the Templates API, and read-only activity */
    u_char                        portal_key_hash[NGX_HTTP_POSTMARK_HASH_LEN];
    unsigned                      has_portal_key:1;
    struct curl_slist            *api_headers;  /* with the server token */
    ngx_http_postmark_scope_t     scope;        /* what its portal reaches */
    ngx_flag_t                    activity;
    ngx_flag_t                    suppressions;
};


typedef struct {
    ngx_array_t                   clients;   /* ngx_http_postmark_client_t * */
    ngx_rbtree_t                  names;     /* the clients, by name */
    ngx_rbtree_node_t             names_sentinel;
    ngx_array_t                   users;     /* by webhook user's digest */
    ngx_array_t                   refs;      /* client names in locations */
    ngx_array_t                  *credentials;   /* while reading, only */
    ngx_uint_t                    used;      /* a location needs the engine */

    /* the spool, and the destinations delivered through it */
    ngx_str_t                     spool;     /* NUL-terminated, or empty */
    ngx_str_t                     dead;      /* its dead letters */
    off_t                         spool_max_size;
    ngx_thread_pool_t            *thread_pool;
    ngx_array_t                   spooled;   /* ngx_http_postmark_dest_t * */
    ngx_array_t                   spooled_by_name;   /* client, then URL */
    u_char                       *admin_file;   /* a location needs it */
    ngx_uint_t                    admin_line;
} ngx_http_postmark_main_conf_t;


typedef struct {
    ngx_uint_t                    webhook;
    ngx_http_postmark_client_t   *webhook_client;   /* fixed, or NULL */

    ngx_http_postmark_client_t   *portal_client;
    ngx_str_t                     prefix;           /* the location's */
    ngx_str_t                     api_url;          /* without final "/" */
    ngx_msec_t                    api_timeout;
    size_t                        templates_max_body_size;

    ngx_uint_t                    admin;
    u_char                        admin_hash[NGX_HTTP_POSTMARK_HASH_LEN];
} ngx_http_postmark_loc_conf_t;


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_postmark_client_t   *client;
    ngx_http_postmark_job_t      *job;       /* while forwards run */
    ngx_http_postmark_route_t    *route;     /* a Templates API call */

    /* for variables; copies that outlive jobs and transfers */
    ngx_str_t                     client_name;
    ngx_str_t                     outcome;
    ngx_str_t                     event;
    ngx_str_t                     message_id;
    ngx_str_t                     webhook_id;
    ngx_str_t                     operation;
    ngx_str_t                     template;
    ngx_str_t                     upstream_status;
} ngx_http_postmark_ctx_t;


/* one outbound HTTP transfer on the worker's libcurl multi handle */

typedef void (*ngx_http_postmark_fetch_done_pt)(
    ngx_http_postmark_fetch_t *fetch);

struct ngx_http_postmark_fetch_s {
    CURL                             *easy;
    ngx_pool_t                       *pool;
    ngx_queue_t                       queue;      /* in the engine or lane */
    ngx_http_postmark_lane_t         *lane;       /* Postmark's API, if set */
    ngx_msec_t                        timeout;    /* waiting for room too */
    ngx_msec_t                        queued;
    ngx_event_t                       wait;
    CURLcode                          setopt;     /* the first that failed */

    ngx_http_postmark_fetch_done_pt   done;
    void                             *data;

    long                              status;     /* 0 without an answer */
    CURLcode                          result;
    char                              error[CURL_ERROR_SIZE];

    /* the answer's body, when kept; up to response_max bytes */
    ngx_str_t                         response;
    size_t                            response_size;
    size_t                            response_max;

    /*
     * A forward: curl connects (name, TCP, TLS, proxy), and the request
     * and its answer are the module's own, on a connection kept per
     * destination.
     */
    ngx_http_postmark_dest_t         *dest;       /* NULL: curl's HTTP */
    ngx_http_postmark_conn_t         *conn;
    ngx_str_t                         head;
    ngx_str_t                         body;
    size_t                            sent;
    off_t                             received;
    ngx_msec_t                        started;
    ngx_http_postmark_answer_t        answer;

    unsigned                          active:1;
    unsigned                          waiting:1;
    unsigned                          reserved:1; /* room taken in its lane */
    unsigned                          lost:1;     /* no socket: ends later */
    unsigned                          head_done:1;
    unsigned                          too_large:1;
    unsigned                          cut:1;
    unsigned                          connecting:1;
    unsigned                          reused:1;   /* a kept connection */
    unsigned                          retried:1;
    unsigned                          extra:1;    /* bytes after the answer */
};


/* options are set in a row; the first failure fails the transfer */

#define ngx_http_postmark_setopt(fetch, option, value)                      \
    do {                                                                     \
        CURLcode  rc_ = curl_easy_setopt((fetch)->easy, option, value);     \
        if (rc_ != CURLE_OK && (fetch)->setopt == CURLE_OK) {                \
            (fetch)->setopt = rc_;                                           \
        }                                                                    \
    } while (0)


/* the structure an event is embedded in, as ngx_queue_data() */

#define ngx_http_postmark_event_data(ev, type, member)                      \
    ((type *) ((u_char *) (ev) - offsetof(type, member)))


/* an event's bytes, shared by reference (ngx_http_postmark_forward.c) */

typedef struct {
    u_char                           *data;
    size_t                            len;
    ngx_uint_t                        refs;
    void                             *map;        /* mapped, or in the heap */
    size_t                            map_len;
} ngx_http_postmark_body_t;


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


/* how long a dead letter that could not be written waits to try again */

#define NGX_HTTP_POSTMARK_DEAD_RETRY  60000


/*
 * The last answer of a destination, shared by the deliveries it was the
 * last answer of: a destination that is down answers all of them alike.
 */

typedef struct {
    ngx_uint_t                        refs;
    u_char                            text[1];
} ngx_http_postmark_note_t;


/*
 * A delivery in the spool, not yet done: the worker keeps one per event
 * and spooled destination, so it is small (120 bytes, in blocks), and
 * its timer is a node of the retry layer's own tree.
 */

typedef struct {
    ngx_rbtree_node_t                 due;        /* when looked at next */
    ngx_queue_t                       queue;      /* ready, or waiting */
    ngx_http_postmark_segment_t      *segment;
    ngx_http_postmark_outbox_t       *outbox;     /* NULL: destination gone */
    off_t                             offset;
    uint64_t                          created;    /* ms since the epoch */
    ngx_http_postmark_note_t         *last;       /* the last answer, or NULL */
    const char                       *dead;       /* why, when it failed */
    ngx_http_postmark_job_t          *job;        /* the attempt under way */
    uint32_t                          length;
    uint32_t                          attempts:24;
    uint32_t                          used:1;     /* its block slot */
    uint32_t                          timed:1;    /* "due" is in the tree */
    uint32_t                          ready:1;
    uint32_t                          busy:1;
    uint32_t                          reserved:1; /* room in its lane */
    uint32_t                          reading:1;  /* its record, in a thread */
} ngx_http_postmark_pending_t;


/* a destination's spooled deliveries in this worker */

#define NGX_HTTP_POSTMARK_BREAKER_CLOSED   0
#define NGX_HTTP_POSTMARK_BREAKER_OPEN     1
#define NGX_HTTP_POSTMARK_BREAKER_PROBING  2

struct ngx_http_postmark_outbox_s {
    ngx_http_postmark_dest_t         *dest;
    ngx_queue_t                       ready;
    ngx_uint_t                        pending;    /* all, in any state */
    ngx_uint_t                        busy;       /* attempts under way */
    ngx_uint_t                        failures;   /* in a row */
    ngx_uint_t                        breaker;
    ngx_msec_t                        wait;       /* of the open breaker */
    ngx_event_t                       resume;
    ngx_uint_t                        delivered;
    ngx_uint_t                        dead;
    ngx_http_postmark_note_t         *note;       /* its last answer */
    ngx_http_postmark_job_t          *fresh;      /* a first attempt's body */
    ngx_http_postmark_pending_t      *fresh_for;
    unsigned                          paused:1;   /* Retry-After */
    unsigned                          gone:1;     /* 410 Gone */
    unsigned                          dispatching:1;
};


void ngx_http_postmark_timer_init(ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_log_t *log);
void ngx_http_postmark_timer_stop(ngx_event_t *ev);

ngx_int_t ngx_http_postmark_engine_init(ngx_cycle_t *cycle);
void ngx_http_postmark_engine_done(ngx_cycle_t *cycle);
void ngx_http_postmark_hold(void);
void ngx_http_postmark_release(void);
void ngx_http_postmark_lane_init(ngx_http_postmark_lane_t *lane,
    ngx_uint_t max);
ngx_int_t ngx_http_postmark_lane_reserve(ngx_http_postmark_lane_t *lane);
void ngx_http_postmark_lane_unreserve(ngx_http_postmark_lane_t *lane);
ngx_http_postmark_fetch_t *ngx_http_postmark_fetch_create(ngx_pool_t *pool);
ngx_http_postmark_fetch_t *ngx_http_postmark_forward_create(ngx_pool_t *pool,
    ngx_http_postmark_dest_t *dest);
void ngx_http_postmark_fetch_keep_response(ngx_http_postmark_fetch_t *fetch,
    size_t max, ngx_uint_t cut);
ngx_int_t ngx_http_postmark_fetch_start(ngx_http_postmark_fetch_t *fetch);
time_t ngx_http_postmark_fetch_retry_after(ngx_http_postmark_fetch_t *fetch);
ngx_int_t ngx_http_postmark_header_list(ngx_pool_t *pool,
    struct curl_slist **list, char *line);

ngx_http_postmark_body_t *ngx_http_postmark_body_alloc(size_t len,
    ngx_log_t *log);
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

typedef void (*ngx_http_postmark_read_pt)(ngx_http_postmark_pending_t *p,
    ngx_http_postmark_record_t *rec, ngx_int_t rc);

ngx_thread_task_t *ngx_http_postmark_task_create(size_t size,
    void (*thread)(void *data, ngx_log_t *log), ngx_event_handler_pt done);
ngx_int_t ngx_http_postmark_task_post(ngx_thread_task_t *task);
uint64_t ngx_http_postmark_now(void);
ngx_int_t ngx_http_postmark_list_dir(u_char *dir, char *suffix, char ***names,
    size_t *n);
void ngx_http_postmark_names_free(char **names, size_t n);

/*
 * What the spool hands to the layer that schedules deliveries, set by
 * that layer when the worker starts: the spool stores, reads back, marks
 * done and takes over segments, and calls nothing above it.
 */

typedef struct {
    ngx_http_postmark_outbox_t   *(*outbox)(ngx_http_postmark_record_t *rec);
    ngx_http_postmark_outbox_t   *(*outbox_of)(
                                      ngx_http_postmark_dest_t *dest);
    ngx_http_postmark_pending_t  *(*add)(
                                      ngx_http_postmark_segment_t *segment,
                                      ngx_http_postmark_outbox_t *outbox,
                                      ngx_http_postmark_record_t *rec);
    void                          (*start)(ngx_http_postmark_pending_t *p,
                                      ngx_http_postmark_job_t *fresh);
    void                          (*free)(ngx_http_postmark_pending_t *p);
    void                          (*dead_later)(
                                      ngx_http_postmark_pending_t *p,
                                      const char *reason);
} ngx_http_postmark_spool_up_t;

void ngx_http_postmark_spool_up(ngx_http_postmark_spool_up_t *up);
ngx_int_t ngx_http_postmark_spool_init(ngx_cycle_t *cycle);
void ngx_http_postmark_spool_exit(ngx_cycle_t *cycle);
ngx_int_t ngx_http_postmark_spool_write(ngx_http_postmark_batch_t *b);
u_char *ngx_http_postmark_spool_reserve(size_t size,
    ngx_http_postmark_segment_t **segment, off_t *offset);
void ngx_http_postmark_spool_commit(ngx_http_postmark_segment_t *segment,
    ngx_http_postmark_commit_t *commit);
ngx_int_t ngx_http_postmark_spool_read(ngx_http_postmark_pending_t *p,
    u_char *buf, ngx_http_postmark_read_pt handler);
void ngx_http_postmark_spool_done(ngx_http_postmark_pending_t *p);
void ngx_http_postmark_spool_dead(ngx_http_postmark_pending_t *p,
    const char *reason);
ngx_int_t ngx_http_postmark_spool_full(size_t size);
void ngx_http_postmark_spool_stats(off_t *bytes, ngx_uint_t *segments,
    ngx_uint_t *dead);

ngx_int_t ngx_http_postmark_retry_init(ngx_cycle_t *cycle);
void ngx_http_postmark_retry_exit(ngx_cycle_t *cycle);
ngx_http_postmark_dest_t *ngx_http_postmark_spooled_dest(
    ngx_array_t *by_name, ngx_http_postmark_record_t *rec);
ngx_http_postmark_outbox_t *ngx_http_postmark_retry_outbox(
    ngx_http_postmark_record_t *rec);
ngx_http_postmark_outbox_t *ngx_http_postmark_retry_outboxes(ngx_uint_t *n);

ngx_int_t ngx_http_postmark_hash(u_char *out, ngx_str_t *parts, ngx_uint_t n);
ngx_int_t ngx_http_postmark_hash_r(u_char *out, ngx_str_t *parts, ngx_uint_t n);
ngx_http_postmark_client_t *ngx_http_postmark_client_find(
    ngx_http_postmark_main_conf_t *pmcf, ngx_str_t *name);

ngx_http_postmark_ctx_t *ngx_http_postmark_create_ctx(ngx_http_request_t *r);
void ngx_http_postmark_set_outcome(ngx_http_request_t *r, char *outcome);
size_t ngx_http_postmark_body_size(ngx_http_request_t *r);
ngx_http_postmark_body_t *ngx_http_postmark_read_body(ngx_http_request_t *r);
u_char *ngx_http_postmark_body_error(ngx_pool_t *pool, char *prefix,
    ngx_http_postmark_event_rc_e rc, size_t offset, const char *member);
ngx_int_t ngx_http_postmark_copy(ngx_pool_t *pool, ngx_str_t *dst,
    const char *src);
ngx_int_t ngx_http_postmark_add_header(ngx_http_request_t *r, char *key,
    char *value);
ngx_int_t ngx_http_postmark_send_message(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *head, char *key, char *text);
ngx_int_t ngx_http_postmark_send_status(ngx_http_request_t *r,
    ngx_uint_t status, char *outcome, char *message);
ngx_int_t ngx_http_postmark_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *json, size_t len);
ngx_int_t ngx_http_postmark_add_variables(ngx_conf_t *cf);

ngx_int_t ngx_http_postmark_webhook_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_postmark_portal_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_postmark_admin_handler(ngx_http_request_t *r);


extern ngx_module_t  ngx_http_postmark_module;


#endif /* _NGX_HTTP_POSTMARK_MODULE_H_INCLUDED_ */
