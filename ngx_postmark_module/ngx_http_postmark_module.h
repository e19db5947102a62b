
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * What every file of the module shares: the configuration's types, as
 * nginx.conf leaves them, and the few helpers on them.  Each runtime
 * subsystem declares the rest in a header of its own.
 */

#ifndef _NGX_HTTP_POSTMARK_MODULE_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <curl/curl.h>

#include "ngx_http_postmark_event.h"
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
typedef struct ngx_http_postmark_slot_s    ngx_http_postmark_slot_t;


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

/* a spooled destination's circuit breaker, in a worker */

#define NGX_HTTP_POSTMARK_BREAKER_CLOSED   0
#define NGX_HTTP_POSTMARK_BREAKER_OPEN     1
#define NGX_HTTP_POSTMARK_BREAKER_PROBING  2


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
    ngx_str_t                     name;         /* in metrics */
    ngx_str_t                     host;         /* and its port */
    ngx_http_postmark_slot_t     *slot;         /* in the shared zone */
    u_char                       *file;
    ngx_uint_t                    line;
} ngx_http_postmark_dest_t;




struct ngx_http_postmark_client_s {
    ngx_str_node_t                node;         /* by name, in the tree */
    ngx_str_t                     name;
    ngx_http_postmark_slot_t     *slot;         /* in the shared zone */
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
    ngx_flag_t                    portal_replay;  /* of its dead letters */
};


/* a client with webhook credentials, by its user's digest's first bytes */

typedef struct {
    uint64_t                      key;
    ngx_http_postmark_client_t   *client;     /* NULL: an empty slot */
} ngx_http_postmark_user_t;


typedef struct {
    ngx_array_t                   clients;   /* ngx_http_postmark_client_t * */
    ngx_rbtree_t                  names;     /* the clients, by name */
    ngx_rbtree_node_t             names_sentinel;
    ngx_http_postmark_user_t     *users;     /* open addressing, half full */
    ngx_uint_t                    users_mask;
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
    ngx_shm_zone_t               *stats;     /* what all workers count */
    ngx_uint_t                    stats_slots;
    ngx_uint_t                    stats_workers;
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

    ngx_uint_t                    metrics;
} ngx_http_postmark_loc_conf_t;


/* the structure an event is embedded in, as ngx_queue_data() */

#define ngx_http_postmark_event_data(ev, type, member)                      \
    ((type *) ((u_char *) (ev) - offsetof(type, member)))


void ngx_http_postmark_timer_init(ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_log_t *log);
void ngx_http_postmark_timer_stop(ngx_event_t *ev);

ngx_int_t ngx_http_postmark_hash(u_char *out, ngx_str_t *parts, ngx_uint_t n);
void ngx_http_postmark_printable(u_char *dst, size_t size, const char *src,
    size_t len, u_char c);
ngx_int_t ngx_http_postmark_hash_r(u_char *out, ngx_str_t *parts, ngx_uint_t n);
ngx_http_postmark_client_t *ngx_http_postmark_client_find(
    ngx_http_postmark_main_conf_t *pmcf, ngx_str_t *name);


extern ngx_module_t  ngx_http_postmark_module;


#endif /* _NGX_HTTP_POSTMARK_MODULE_H_INCLUDED_ */
