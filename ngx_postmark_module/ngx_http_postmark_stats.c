
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The shared zone "postmark".  Every client and destination of the
 * configuration has a slot, found by a digest of its names; the zone is
 * sized when the configuration is read, so that nothing is allocated
 * afterwards and nothing can run out.  A reload that fits in the running
 * zone keeps it: nginx maps the same memory, old and new workers count in
 * the same slots, and the new configuration takes slots for what it adds.
 * One that does not fit gets a larger zone, and the counters are copied
 * over by name.  A slot is never given back while its zone lives.
 *
 * Workers add to counters with ngx_atomic_fetch_add(), without a lock.
 * What a worker has right now (attempts under way, pending deliveries,
 * its circuit breaker) it writes to a row of its own, per destination,
 * for the configuration's generation: a respawned worker clears its
 * predecessor's row, and a worker that exits clears its own.
 */


#include "ngx_http_postmark_stats.h"


#define NGX_HTTP_POSTMARK_STATS_MAGIC   0x706d7331   /* "pms1" */
#define NGX_HTTP_POSTMARK_SLOTS_MIN     64
#define NGX_HTTP_POSTMARK_WORKERS_MIN   4


struct ngx_http_postmark_slot_s {
    u_char                          key[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_uint_t                      generation;  /* last that had it; 0: free */
    ngx_uint_t                      index;

    union {
        ngx_http_postmark_cstat_t   client;
        ngx_http_postmark_dstat_t   dest;
        u_char                      pad[1024 - NGX_HTTP_POSTMARK_HASH_LEN
                                        - 2 * sizeof(ngx_uint_t)];
    } u;
};


typedef struct {
    uint32_t                        magic;
    ngx_uint_t                      nslots;      /* a power of two */
    ngx_uint_t                      workers;     /* rows, a power of two */
    ngx_uint_t                      used;
    ngx_http_postmark_totals_t      totals;
    ngx_http_postmark_slot_t       *slots;
    ngx_http_postmark_row_t        *rows;        /* [2][workers][nslots] */
} ngx_http_postmark_zone_t;


static ngx_int_t ngx_http_postmark_stats_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_postmark_stats_bind(ngx_http_postmark_zone_t *z,
    ngx_http_postmark_zone_t *old, ngx_http_postmark_main_conf_t *pmcf);
static ngx_http_postmark_slot_t *ngx_http_postmark_stats_take(
    ngx_http_postmark_zone_t *z, ngx_http_postmark_zone_t *old, u_char *key);
static ngx_http_postmark_slot_t *ngx_http_postmark_stats_find(
    ngx_http_postmark_zone_t *z, u_char *key, ngx_uint_t *free);
static void ngx_http_postmark_stats_key(u_char *key, char kind,
    ngx_str_t *client, ngx_str_t *dest);
static size_t ngx_http_postmark_stats_size(ngx_uint_t nslots,
    ngx_uint_t workers);
static ngx_uint_t ngx_http_postmark_pow2(ngx_uint_t n);
static ngx_http_postmark_row_t *ngx_http_postmark_stats_row(
    ngx_http_postmark_zone_t *z, ngx_http_postmark_dest_t *dest,
    ngx_uint_t parity, ngx_uint_t worker);
static ngx_http_postmark_row_t *ngx_http_postmark_stats_own(
    ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_stats_clear(ngx_http_postmark_zone_t *z,
    ngx_uint_t parity, ngx_uint_t worker);


const char  *ngx_http_postmark_webhook_outcomes[] = {
    "forwarded", "spooled", "unmatched", "rejected", "too_large", "failed",
    NULL
};

const char  *ngx_http_postmark_portal_outcomes[] = {
    "proxied", "refused", "upstream_failed", "unauthorized", NULL
};

const char  *ngx_http_postmark_rejections[] = {
    "unauthorized", "method_not_allowed", "too_large", NULL
};

const char  *ngx_http_postmark_record_types[] = {
    "Bounce", "Delivery", "Open", "Click", "SpamComplaint",
    "SubscriptionChange", "Inbound", "other", NULL
};

const char  *ngx_http_postmark_delivery_outcomes[] = {
    "delivered", "failed", "dead_lettered", NULL
};

const char  *ngx_http_postmark_attempt_results[] = {
    "2xx", "3xx", "4xx", "5xx", "timeout", "connect_error", "tls_error",
    "error", NULL
};

/* the last is +Inf */
const ngx_msec_t  ngx_http_postmark_buckets[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, (ngx_msec_t) -1
};


/* the master's: the zone of the configuration that runs */
static ngx_http_postmark_zone_t  *ngx_http_postmark_running;

/* a worker's: the zone it counts in, and the row it writes */
static ngx_http_postmark_zone_t  *ngx_http_postmark_zone;
static ngx_uint_t                 ngx_http_postmark_parity;
static ngx_uint_t                 ngx_http_postmark_worker_row;


/*
 * Declares the zone, sized for the configuration: twice as many slots as
 * it has clients and destinations, or the running zone's size when what
 * it adds fits there (a reload then keeps the same memory).
 */

char *
ngx_http_postmark_stats_zone(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf)
{
    u_char                        key[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_str_t                     name;
    ngx_uint_t                    i, j, n, fresh, nslots, workers, free;
    ngx_core_conf_t              *ccf;
    ngx_shm_zone_t               *zone;
    ngx_http_postmark_dest_t     *dest;
    ngx_http_postmark_client_t  **clients;
    ngx_http_postmark_zone_t     *run;

    clients = pmcf->clients.elts;
    n = 0;
    fresh = 0;
    run = ngx_http_postmark_running;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        n += 1 + clients[i]->dests.nelts;

        if (run == NULL) {
            continue;
        }

        ngx_http_postmark_stats_key(key, 'c', &clients[i]->name, NULL);
        fresh += (ngx_http_postmark_stats_find(run, key, &free) == NULL);

        dest = clients[i]->dests.elts;

        for (j = 0; j < clients[i]->dests.nelts; j++) {
            ngx_http_postmark_stats_key(key, 'd', &clients[i]->name,
                                        &dest[j].display);
            fresh += (ngx_http_postmark_stats_find(run, key, &free) == NULL);
        }
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    workers = (ccf->worker_processes == NGX_CONF_UNSET)
              ? 1 : (ngx_uint_t) ccf->worker_processes;
    workers = ngx_http_postmark_pow2(ngx_max(ngx_max(workers,
                                                    (ngx_uint_t) ngx_ncpu),
                                             NGX_HTTP_POSTMARK_WORKERS_MIN));

    nslots = ngx_http_postmark_pow2(ngx_max(2 * n,
                                            NGX_HTTP_POSTMARK_SLOTS_MIN));

    /* the running zone, if what is new fits in three quarters of it */

    if (run && run->nslots >= nslots && run->workers >= workers
        && (run->used + fresh) * 4 <= run->nslots * 3)
    {
        nslots = run->nslots;
        workers = run->workers;

    } else if (run
               && ngx_http_postmark_stats_size(nslots, workers)
                  == ngx_http_postmark_stats_size(run->nslots, run->workers))
    {
        /* another layout of the same size would be taken for the old one */

        nslots *= 2;
    }

    ngx_str_set(&name, "postmark");

    zone = ngx_shared_memory_add(cf, &name,
                                 ngx_http_postmark_stats_size(nslots,
                                                              workers),
                                 &ngx_http_postmark_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the shared memory zone \"postmark\" is "
                           "already in use; give the other one another "
                           "name");
        return NGX_CONF_ERROR;
    }

    zone->init = ngx_http_postmark_stats_init_zone;
    zone->data = pmcf;
    pmcf->stats = zone;
    pmcf->stats_slots = nslots;
    pmcf->stats_workers = workers;

    return NGX_CONF_OK;
}


/* the zone's bytes for "nslots" slots and rows for "workers" workers */

static size_t
ngx_http_postmark_stats_size(ngx_uint_t nslots, ngx_uint_t workers)
{
    size_t  size;

    size = sizeof(ngx_http_postmark_zone_t)
           + nslots * sizeof(ngx_http_postmark_slot_t)
           + 2 * workers * nslots * sizeof(ngx_http_postmark_row_t);

    /* the slab allocator's own: its pool, a page of alignment, a page map */

    size += size / ngx_pagesize * 64 + 8 * ngx_pagesize;

    return ngx_align(size, ngx_pagesize);
}


static ngx_uint_t
ngx_http_postmark_pow2(ngx_uint_t n)
{
    ngx_uint_t  p;

    for (p = 1; p < n; p <<= 1) { /* void */ }

    return p;
}


/*
 * In the master, before the workers start: "data" is the configuration
 * that ran before, when nginx maps its zone again; otherwise a new zone
 * takes over what the running one counted.
 */

static ngx_int_t
ngx_http_postmark_stats_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_postmark_main_conf_t *opmcf = data;

    size_t                          bytes;
    ngx_uint_t                      nslots, workers;
    ngx_uint_t                      i;
    ngx_slab_pool_t                *shpool;
    ngx_http_postmark_zone_t       *z;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (opmcf) {
        z = ((ngx_slab_pool_t *) opmcf->stats->shm.addr)->data;

        /* the size tells the layout: a different one is a different size */

        if (z->magic != NGX_HTTP_POSTMARK_STATS_MAGIC
            || ngx_http_postmark_stats_size(z->nslots, z->workers)
               != zone->shm.size)
        {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "the shared memory zone \"postmark\" cannot be "
                          "kept across this reload; restart nginx");
            return NGX_ERROR;
        }

        z->totals.generation++;
        z->totals.loaded = ngx_time();

        /* the rows of the workers two generations ago are free again */

        ngx_http_postmark_stats_clear(z, z->totals.generation & 1,
                                      NGX_ERROR);

        return ngx_http_postmark_stats_bind(z, NULL, pmcf);
    }

    nslots = pmcf->stats_slots;
    workers = pmcf->stats_workers;

    bytes = sizeof(ngx_http_postmark_zone_t)
            + nslots * sizeof(ngx_http_postmark_slot_t)
            + 2 * workers * nslots * sizeof(ngx_http_postmark_row_t);

    shpool->log_nomem = 0;

    z = ngx_slab_calloc(shpool, bytes);
    if (z == NULL) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "the shared memory zone \"postmark\" of %uz bytes "
                      "has no room for %uz", zone->shm.size, bytes);
        return NGX_ERROR;
    }

    shpool->data = z;

    z->magic = NGX_HTTP_POSTMARK_STATS_MAGIC;
    z->nslots = nslots;
    z->workers = workers;
    z->slots = (ngx_http_postmark_slot_t *) (z + 1);
    z->rows = (ngx_http_postmark_row_t *) (z->slots + nslots);

    for (i = 0; i < nslots; i++) {
        z->slots[i].index = i;
    }

    z->totals.size = zone->shm.size;
    z->totals.loaded = ngx_time();
    z->totals.generation = 1;

    if (ngx_http_postmark_running) {
        z->totals.generation = ngx_http_postmark_running->totals.generation
                               + 1;

        for (i = 0; i < NGX_HTTP_POSTMARK_R_N; i++) {
            z->totals.rejected[i] =
                ngx_http_postmark_running->totals.rejected[i];
        }
    }

    return ngx_http_postmark_stats_bind(z, ngx_http_postmark_running, pmcf);
}


/* every client and destination gets its slot, with "old"'s counts if new */

static ngx_int_t
ngx_http_postmark_stats_bind(ngx_http_postmark_zone_t *z,
    ngx_http_postmark_zone_t *old, ngx_http_postmark_main_conf_t *pmcf)
{
    u_char                        key[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_uint_t                    i, j;
    ngx_http_postmark_dest_t     *dest;
    ngx_http_postmark_client_t  **clients;

    clients = pmcf->clients.elts;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        ngx_http_postmark_stats_key(key, 'c', &clients[i]->name, NULL);

        clients[i]->slot = ngx_http_postmark_stats_take(z, old, key);
        if (clients[i]->slot == NULL) {
            return NGX_ERROR;
        }

        dest = clients[i]->dests.elts;

        for (j = 0; j < clients[i]->dests.nelts; j++) {
            ngx_http_postmark_stats_key(key, 'd', &clients[i]->name,
                                        &dest[j].display);

            dest[j].slot = ngx_http_postmark_stats_take(z, old, key);
            if (dest[j].slot == NULL) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static ngx_http_postmark_slot_t *
ngx_http_postmark_stats_take(ngx_http_postmark_zone_t *z,
    ngx_http_postmark_zone_t *old, u_char *key)
{
    ngx_uint_t                 free, index;
    ngx_http_postmark_slot_t  *slot, *was;

    slot = ngx_http_postmark_stats_find(z, key, &free);

    if (slot == NULL) {
        if (free == (ngx_uint_t) NGX_ERROR
            || z->used * 4 >= z->nslots * 3)
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "the shared memory zone \"postmark\" is full");
            return NULL;
        }

        slot = &z->slots[free];
        index = slot->index;
        z->used++;

        was = old ? ngx_http_postmark_stats_find(old, key, &free) : NULL;

        if (was) {
            ngx_memcpy(slot, was, sizeof(ngx_http_postmark_slot_t));
            slot->index = index;

        } else {
            ngx_memcpy(slot->key, key, NGX_HTTP_POSTMARK_HASH_LEN);
        }
    }

    slot->generation = z->totals.generation;

    return slot;
}


/* open addressing: NULL and the first free place when it is not there */

static ngx_http_postmark_slot_t *
ngx_http_postmark_stats_find(ngx_http_postmark_zone_t *z, u_char *key,
    ngx_uint_t *free)
{
    ngx_uint_t                 i, n, mask;
    ngx_http_postmark_slot_t  *slot;

    mask = z->nslots - 1;
    ngx_memcpy(&i, key, sizeof(ngx_uint_t));

    for (n = 0; n < z->nslots; n++, i++) {
        slot = &z->slots[i & mask];

        if (slot->generation == 0) {
            *free = i & mask;
            return NULL;
        }

        if (ngx_memcmp(slot->key, key, NGX_HTTP_POSTMARK_HASH_LEN) == 0) {
            return slot;
        }
    }

    *free = (ngx_uint_t) NGX_ERROR;

    return NULL;
}


/* a client by its name; a destination by its client and its URL */

static void
ngx_http_postmark_stats_key(u_char *key, char kind, ngx_str_t *client,
    ngx_str_t *dest)
{
    ngx_str_t  parts[3];

    parts[0].data = (u_char *) &kind;
    parts[0].len = 1;
    parts[1] = *client;

    if (dest) {
        parts[2] = *dest;
    }

    (void) ngx_http_postmark_hash(key, parts, dest ? 3 : 2);
}


/* in the master, once the configuration runs: its zone is the one now */

void
ngx_http_postmark_stats_commit(ngx_cycle_t *cycle)
{
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_postmark_module);

    if (ngx_test_config) {
        return;
    }

    /* a configuration without clients has none: nothing to carry over */

    ngx_http_postmark_running = (pmcf && pmcf->stats)
        ? ((ngx_slab_pool_t *) pmcf->stats->shm.addr)->data : NULL;
}


/* in a worker: its row, cleared of a predecessor's that was killed */

void
ngx_http_postmark_stats_start(ngx_cycle_t *cycle)
{
    ngx_http_postmark_zone_t       *z;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_postmark_module);

    if (pmcf == NULL || pmcf->stats == NULL) {
        return;
    }

    z = ((ngx_slab_pool_t *) pmcf->stats->shm.addr)->data;

    if (ngx_worker >= z->workers) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "postmark: worker %ui has no row in the shared zone "
                      "(%ui rows): what it has under way is not shown; "
                      "reload nginx", ngx_worker, z->workers);
        return;
    }

    ngx_http_postmark_zone = z;
    ngx_http_postmark_parity = z->totals.generation & 1;
    ngx_http_postmark_worker_row = ngx_worker;

    ngx_http_postmark_stats_clear(z, ngx_http_postmark_parity, ngx_worker);
}


/* a worker that exits leaves nothing under way behind */

void
ngx_http_postmark_stats_stop(void)
{
    if (ngx_http_postmark_zone) {
        ngx_http_postmark_stats_clear(ngx_http_postmark_zone,
                                      ngx_http_postmark_parity,
                                      ngx_http_postmark_worker_row);
        ngx_http_postmark_zone = NULL;
    }
}


/* the rows of one worker, or of every worker (NGX_ERROR), of a parity */

static void
ngx_http_postmark_stats_clear(ngx_http_postmark_zone_t *z, ngx_uint_t parity,
    ngx_uint_t worker)
{
    ngx_uint_t  w;

    for (w = 0; w < z->workers; w++) {
        if (worker == (ngx_uint_t) NGX_ERROR || worker == w) {
            ngx_memzero(&z->rows[(parity * z->workers + w) * z->nslots],
                        z->nslots * sizeof(ngx_http_postmark_row_t));
        }
    }
}


ngx_http_postmark_totals_t *
ngx_http_postmark_stats_totals(void)
{
    return ngx_http_postmark_zone ? &ngx_http_postmark_zone->totals : NULL;
}



/* a worker's row for a destination, for the sums the metrics show */

static ngx_http_postmark_row_t *
ngx_http_postmark_stats_row(ngx_http_postmark_zone_t *z,
    ngx_http_postmark_dest_t *dest, ngx_uint_t parity, ngx_uint_t worker)
{
    return &z->rows[(parity * z->workers + worker) * z->nslots
                    + dest->slot->index];
}


static ngx_http_postmark_row_t *
ngx_http_postmark_stats_own(ngx_http_postmark_dest_t *dest)
{
    if (ngx_http_postmark_zone == NULL || dest->slot == NULL) {
        return NULL;
    }

    return ngx_http_postmark_stats_row(ngx_http_postmark_zone, dest,
                                       ngx_http_postmark_parity,
                                       ngx_http_postmark_worker_row);
}


ngx_http_postmark_cstat_t *
ngx_http_postmark_stats_client(ngx_http_postmark_client_t *client)
{
    return &client->slot->u.client;
}


ngx_http_postmark_dstat_t *
ngx_http_postmark_stats_dest(ngx_http_postmark_dest_t *dest)
{
    return &dest->slot->u.dest;
}


/*
 * A webhook request or a portal call answered, with its outcome as
 * $postmark_outcome has it; "client" is NULL when the credentials found
 * none.
 */

void
ngx_http_postmark_stats_request(ngx_http_postmark_client_t *client,
    ngx_uint_t portal, ngx_str_t *outcome, ngx_str_t *event)
{
    ngx_uint_t                  i;
    const char                **names;
    ngx_http_postmark_cstat_t  *cs;

    if (ngx_http_postmark_zone == NULL || outcome->len == 0) {
        return;
    }

    if (client == NULL || client->slot == NULL) {
        if (portal) {
            return;
        }

        for (i = 0; ngx_http_postmark_rejections[i]; i++) {
            if (ngx_strlen(ngx_http_postmark_rejections[i]) == outcome->len
                && ngx_strncmp(ngx_http_postmark_rejections[i],
                               outcome->data, outcome->len) == 0)
            {
                (void) ngx_atomic_fetch_add(
                           &ngx_http_postmark_zone->totals.rejected[i], 1);
                return;
            }
        }

        return;
    }

    cs = &client->slot->u.client;
    names = portal ? ngx_http_postmark_portal_outcomes
                   : ngx_http_postmark_webhook_outcomes;

    for (i = 0; names[i]; i++) {
        if (ngx_strlen(names[i]) == outcome->len
            && ngx_strncmp(names[i], outcome->data, outcome->len) == 0)
        {
            (void) ngx_atomic_fetch_add(portal ? &cs->portal[i]
                                               : &cs->webhook[i], 1);
            break;
        }
    }

    if (portal || names[i] == NULL || event->len == 0) {
        return;
    }

    /* the events that reached the filters, by record type */

    for (i = 0; i < NGX_HTTP_POSTMARK_T_N - 1; i++) {
        if (ngx_strlen(ngx_http_postmark_record_types[i]) == event->len
            && ngx_strncmp(ngx_http_postmark_record_types[i], event->data,
                           event->len) == 0)
        {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&cs->events[i], 1);
    cs->last_event = ngx_time();
}


/* one attempt to a destination: its answer's status, or curl's result */

void
ngx_http_postmark_stats_attempt(ngx_http_postmark_dest_t *dest, long status,
    ngx_int_t result, ngx_msec_t elapsed, size_t sent, const char *reason,
    ngx_str_t *answer)
{
    u_char                        text[NGX_HTTP_POSTMARK_FAILURE_TEXT];
    ngx_uint_t                    i;
    ngx_http_postmark_dstat_t    *ds;
    ngx_http_postmark_failure_t  *f;

    if (ngx_http_postmark_zone == NULL || dest->slot == NULL) {
        return;
    }

    ds = &dest->slot->u.dest;

    switch (result) {

    case CURLE_OK:
        i = (status >= 200 && status < 600) ? (ngx_uint_t) status / 100 - 2
                                            : NGX_HTTP_POSTMARK_A_ERROR;
        break;

    case CURLE_OPERATION_TIMEDOUT:
        i = NGX_HTTP_POSTMARK_A_TIMEOUT;
        break;

    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
        i = NGX_HTTP_POSTMARK_A_CONNECT;
        break;

    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        i = NGX_HTTP_POSTMARK_A_TLS;
        break;

    default:
        i = NGX_HTTP_POSTMARK_A_ERROR;
    }

    (void) ngx_atomic_fetch_add(&ds->attempts[i], 1);

    /*
     * A failure is kept among the last few, for the client's own view:
     * what the endpoint answered, or why there was no answer.  A reader
     * skips an entry while its time is 0, as it is while being written.
     */

    if (i != NGX_HTTP_POSTMARK_A_2XX) {
        f = &ds->failures[ngx_atomic_fetch_add(&ds->failures_next, 1)
                          % NGX_HTTP_POSTMARK_FAILURES];

        if (answer && answer->len) {
            ngx_http_postmark_printable(text, sizeof(text),
                                        (char *) answer->data, answer->len,
                                        ' ');

        } else {
            ngx_http_postmark_printable(text, sizeof(text), reason,
                                        reason ? ngx_strlen(reason) : 0,
                                        ' ');
        }

        f->at = 0;
        f->status = (result == CURLE_OK) ? (ngx_atomic_uint_t) status : 0;
        f->result = i;
        ngx_memcpy(f->text, text, sizeof(text));
        f->at = ngx_time();
    }

    for (i = 0; elapsed > ngx_http_postmark_buckets[i]; i++) { /* void */ }

    (void) ngx_atomic_fetch_add(&ds->duration[i], 1);
    (void) ngx_atomic_fetch_add(&ds->duration_ms, elapsed);
    (void) ngx_atomic_fetch_add(&ds->sent_bytes, sent);
}


void
ngx_http_postmark_stats_delivery(ngx_http_postmark_dest_t *dest,
    ngx_uint_t outcome)
{
    if (ngx_http_postmark_zone && dest->slot) {
        (void) ngx_atomic_fetch_add(&dest->slot->u.dest.deliveries[outcome],
                                    1);
    }
}


void
ngx_http_postmark_stats_retry(ngx_http_postmark_dest_t *dest)
{
    if (ngx_http_postmark_zone && dest->slot) {
        (void) ngx_atomic_fetch_add(&dest->slot->u.dest.retries, 1);
    }
}


/* what this worker has of a destination right now */

void
ngx_http_postmark_stats_in_flight(ngx_http_postmark_dest_t *dest,
    ngx_uint_t n)
{
    ngx_http_postmark_row_t  *row;

    row = ngx_http_postmark_stats_own(dest);

    if (row) {
        row->in_flight = n;
    }
}


void
ngx_http_postmark_stats_backlog(ngx_http_postmark_dest_t *dest,
    ngx_uint_t pending, ngx_uint_t breaker)
{
    ngx_http_postmark_row_t  *row;

    row = ngx_http_postmark_stats_own(dest);

    if (row) {
        row->pending = pending;
        row->breaker = breaker;
    }
}


/* the spool as this worker's last scan measured it */

void
ngx_http_postmark_stats_spool(off_t bytes, ngx_uint_t segments,
    ngx_uint_t dead)
{
    ngx_http_postmark_totals_t  *t;

    if (ngx_http_postmark_zone == NULL) {
        return;
    }

    t = &ngx_http_postmark_zone->totals;

    t->spool_bytes = (ngx_atomic_uint_t) bytes;
    t->spool_segments = segments;
    t->dead_letters = dead;
}


/*
 * The sums of the workers' rows, of both generations that may run; the
 * worst breaker: open, then probing, then closed.
 */

void
ngx_http_postmark_stats_sum(ngx_http_postmark_dest_t *dest,
    ngx_uint_t *in_flight, ngx_uint_t *pending, ngx_uint_t *breaker)
{
    ngx_uint_t                 p, w, b;
    ngx_http_postmark_row_t   *row;
    ngx_http_postmark_zone_t  *z;

    *in_flight = 0;
    *pending = 0;
    *breaker = NGX_HTTP_POSTMARK_BREAKER_CLOSED;

    z = ngx_http_postmark_zone;

    for (p = 0; p < 2; p++) {
        for (w = 0; w < z->workers; w++) {
            row = ngx_http_postmark_stats_row(z, dest, p, w);

            *in_flight += row->in_flight;
            *pending += row->pending;
            b = row->breaker;

            if (b == NGX_HTTP_POSTMARK_BREAKER_OPEN
                || (b == NGX_HTTP_POSTMARK_BREAKER_PROBING
                    && *breaker == NGX_HTTP_POSTMARK_BREAKER_CLOSED))
            {
                *breaker = b;
            }
        }
    }
}
