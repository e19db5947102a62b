
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
 * Workers add to counters with ngx_atomic_fetch_add(), without a lock;
 * a destination's attempts under way and its circuit breaker change by
 * compare-and-swap, so that max_concurrent and the breaker hold for the
 * whole nginx.  What a worker has right now (its attempts under way, its
 * pending deliveries) it also writes to a row of its own, per destination.
 * A worker takes a free set of rows when it starts, marked with its pid,
 * and gives it back when it exits; the rows of a worker that died (killed,
 * or crashed) are found within a second by any worker, which takes what
 * they held under way back from the destinations' counts.
 */


#include "ngx_http_postmark_stats.h"


#define NGX_HTTP_POSTMARK_STATS_MAGIC   0x706d7331   /* "pms1" */
#define NGX_HTTP_POSTMARK_SLOTS_MIN     64
#define NGX_HTTP_POSTMARK_WORKERS_MIN   4

/* a set of rows being given back */
#define NGX_HTTP_POSTMARK_RELEASING     ((ngx_atomic_uint_t) -1)


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
    ngx_uint_t                      workers;     /* a power of two */
    ngx_uint_t                      used;
    ngx_http_postmark_totals_t      totals;
    ngx_http_postmark_slot_t       *slots;
    ngx_http_postmark_row_t        *rows;        /* [2 * workers][nslots] */
    ngx_atomic_t                   *owners;      /* [2 * workers]: pids */
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
static size_t ngx_http_postmark_stats_bytes(ngx_uint_t nslots,
    ngx_uint_t workers);
static size_t ngx_http_postmark_stats_size(ngx_uint_t nslots,
    ngx_uint_t workers);
static ngx_uint_t ngx_http_postmark_pow2(ngx_uint_t n);
static ngx_http_postmark_row_t *ngx_http_postmark_stats_own(
    ngx_http_postmark_dest_t *dest);
static ngx_uint_t ngx_http_postmark_stats_dead(ngx_atomic_uint_t pid);
static void ngx_http_postmark_stats_release(ngx_http_postmark_zone_t *z,
    ngx_uint_t set);
static void ngx_http_postmark_stats_sweep(ngx_event_t *ev);
static void ngx_http_postmark_stats_sub(ngx_atomic_t *a,
    ngx_atomic_uint_t n);


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

/* a worker's: the zone it counts in, and the set of rows it writes */
static ngx_http_postmark_zone_t  *ngx_http_postmark_zone;
static ngx_uint_t                 ngx_http_postmark_set;
static ngx_uint_t                 ngx_http_postmark_generation;
static ngx_event_t                ngx_http_postmark_sweeper;


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


/* what the zone holds for "nslots" slots and rows for "workers" workers */

static size_t
ngx_http_postmark_stats_bytes(ngx_uint_t nslots, ngx_uint_t workers)
{
    return sizeof(ngx_http_postmark_zone_t)
           + nslots * sizeof(ngx_http_postmark_slot_t)
           + 2 * workers * nslots * sizeof(ngx_http_postmark_row_t)
           + 2 * workers * sizeof(ngx_atomic_t);
}


/* the zone's bytes, with what the slab allocator needs of its own */

static size_t
ngx_http_postmark_stats_size(ngx_uint_t nslots, ngx_uint_t workers)
{
    size_t  size;

    size = ngx_http_postmark_stats_bytes(nslots, workers);

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

        return ngx_http_postmark_stats_bind(z, NULL, pmcf);
    }

    nslots = pmcf->stats_slots;
    workers = pmcf->stats_workers;

    bytes = ngx_http_postmark_stats_bytes(nslots, workers);

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
    z->owners = (ngx_atomic_t *) (z->rows + 2 * workers * nslots);

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

            /* the old workers' attempts end in the old zone */
            slot->u.dest.in_flight = 0;

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


/*
 * In a worker: a set of rows of its own, free or left by a worker that
 * died, and a timer that looks for the sets of workers that die later.
 */

void
ngx_http_postmark_stats_start(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_atomic_uint_t               pid;
    ngx_http_postmark_zone_t       *z;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_postmark_module);

    if (pmcf == NULL || pmcf->stats == NULL) {
        return;
    }

    z = ((ngx_slab_pool_t *) pmcf->stats->shm.addr)->data;

    for (i = 0; i < 2 * z->workers; i++) {
        pid = z->owners[i];

        if ((pid == 0 || ngx_http_postmark_stats_dead(pid))
            && ngx_atomic_cmp_set(&z->owners[i], pid, ngx_pid))
        {
            if (pid) {
                ngx_http_postmark_stats_release(z, i);
            }

            break;
        }
    }

    ngx_http_postmark_zone = z;
    ngx_http_postmark_set = i;
    ngx_http_postmark_generation = z->totals.generation;

    if (i == 2 * z->workers) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "postmark: the shared zone has no free rows for this "
                      "worker (%ui sets): its attempts are not held to "
                      "max_concurrent with the others'; reload nginx",
                      2 * z->workers);
        ngx_http_postmark_set = NGX_ERROR;
        return;
    }

    ngx_http_postmark_timer_init(&ngx_http_postmark_sweeper,
                                 ngx_http_postmark_stats_sweep, cycle->log);
    ngx_add_timer(&ngx_http_postmark_sweeper, 1000);
}


/* a worker that exits gives back its rows and what they hold */

void
ngx_http_postmark_stats_stop(void)
{
    ngx_http_postmark_zone_t  *z;

    z = ngx_http_postmark_zone;

    if (z == NULL) {
        return;
    }

    if (ngx_http_postmark_set != (ngx_uint_t) NGX_ERROR) {
        ngx_http_postmark_timer_stop(&ngx_http_postmark_sweeper);

        ngx_http_postmark_stats_release(z, ngx_http_postmark_set);
        z->owners[ngx_http_postmark_set] = 0;
    }

    ngx_http_postmark_zone = NULL;
}


/* a pid of a worker that is gone; a zombie counts as alive until reaped */

static ngx_uint_t
ngx_http_postmark_stats_dead(ngx_atomic_uint_t pid)
{
    if (pid == NGX_HTTP_POSTMARK_RELEASING) {
        return 0;
    }

    if ((ngx_pid_t) pid == ngx_pid) {
        return 1;
    }

    return kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}


/* every second: the rows of workers that died are given back */

static void
ngx_http_postmark_stats_sweep(ngx_event_t *ev)
{
    ngx_uint_t                 i;
    ngx_atomic_uint_t          pid;
    ngx_http_postmark_zone_t  *z;

    z = ngx_http_postmark_zone;

    if (z == NULL) {
        return;
    }

    for (i = 0; i < 2 * z->workers; i++) {
        pid = z->owners[i];

        if (pid == 0 || i == ngx_http_postmark_set
            || !ngx_http_postmark_stats_dead(pid)
            || !ngx_atomic_cmp_set(&z->owners[i], pid,
                                   NGX_HTTP_POSTMARK_RELEASING))
        {
            continue;
        }

        ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                      "postmark: worker %P is gone; what it had under way "
                      "is counted no more", (ngx_pid_t) pid);

        ngx_http_postmark_stats_release(z, i);
        z->owners[i] = 0;
    }

    if (!ngx_exiting) {
        ngx_add_timer(ev, 1000);
    }
}


/*
 * A set of rows given back: what its worker had under way is taken from
 * the destinations' counts (a worker adds to its row first, so a count is
 * never left behind by one killed in between), and the rows are cleared.
 */

static void
ngx_http_postmark_stats_release(ngx_http_postmark_zone_t *z, ngx_uint_t set)
{
    ngx_uint_t                i;
    ngx_http_postmark_row_t  *rows;

    rows = &z->rows[set * z->nslots];

    for (i = 0; i < z->nslots; i++) {
        if (rows[i].in_flight) {
            ngx_http_postmark_stats_sub(&z->slots[i].u.dest.in_flight,
                                        rows[i].in_flight);
        }
    }

    ngx_memzero(rows, z->nslots * sizeof(ngx_http_postmark_row_t));
}


/* a count that cannot go below zero */

static void
ngx_http_postmark_stats_sub(ngx_atomic_t *a, ngx_atomic_uint_t n)
{
    ngx_atomic_uint_t  v;

    do {
        v = *a;
    } while (!ngx_atomic_cmp_set(a, v, v > n ? v - n : 0));
}


ngx_http_postmark_totals_t *
ngx_http_postmark_stats_totals(void)
{
    return ngx_http_postmark_zone ? &ngx_http_postmark_zone->totals : NULL;
}



static ngx_http_postmark_row_t *
ngx_http_postmark_stats_own(ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_zone_t  *z;

    z = ngx_http_postmark_zone;

    if (z == NULL || dest->slot == NULL
        || ngx_http_postmark_set == (ngx_uint_t) NGX_ERROR)
    {
        return NULL;
    }

    return &z->rows[ngx_http_postmark_set * z->nslots + dest->slot->index];
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


/*
 * One more attempt under way to a destination, if fewer than "max" of
 * every worker are (0: no limit).  Its worker's row counts it first.
 */

ngx_uint_t
ngx_http_postmark_stats_enter(ngx_http_postmark_dest_t *dest, ngx_uint_t max)
{
    ngx_atomic_t             *all;
    ngx_atomic_uint_t         n;
    ngx_http_postmark_row_t  *row;

    row = ngx_http_postmark_stats_own(dest);

    /* a worker without rows is not held to the others' count */

    if (row == NULL) {
        return 1;
    }

    all = &dest->slot->u.dest.in_flight;

    row->in_flight++;

    do {
        n = *all;

        if (max && n >= max) {
            row->in_flight--;
            return 0;
        }

    } while (!ngx_atomic_cmp_set(all, n, n + 1));

    return 1;
}


void
ngx_http_postmark_stats_leave(ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_row_t  *row;

    row = ngx_http_postmark_stats_own(dest);

    if (row && row->in_flight) {
        ngx_http_postmark_stats_sub(&dest->slot->u.dest.in_flight, 1);
        row->in_flight--;
    }
}


/* whether "max" attempts of every worker are under way: a hint, no place */

ngx_uint_t
ngx_http_postmark_stats_full(ngx_http_postmark_dest_t *dest, ngx_uint_t max)
{
    return ngx_http_postmark_zone && dest->slot
           && dest->slot->u.dest.in_flight >= max;
}


void
ngx_http_postmark_stats_backlog(ngx_http_postmark_dest_t *dest,
    ngx_uint_t pending)
{
    ngx_http_postmark_row_t  *row;

    row = ngx_http_postmark_stats_own(dest);

    if (row) {
        row->pending = pending;
    }
}


/*
 * A Retry-After heard by one worker pauses the destination for all: the
 * later end wins.  A 410 Gone stops it for this generation of workers,
 * until a reload starts the next.
 */

void
ngx_http_postmark_stats_pause(ngx_http_postmark_dest_t *dest,
    ngx_msec_t pause)
{
    ngx_msec_t     until;
    ngx_atomic_t  *a;

    if (dest->slot == NULL) {
        return;
    }

    a = &dest->slot->u.dest.paused_until;
    until = ngx_current_msec + pause;

    while ((ngx_msec_int_t) (until - (ngx_msec_t) *a) > 0
           && !ngx_atomic_cmp_set(a, *a, until))
    {
        /* void */
    }
}


/* how much longer the destination is paused, in ms; 0: not */

ngx_msec_t
ngx_http_postmark_stats_paused(ngx_http_postmark_dest_t *dest)
{
    ngx_msec_int_t  left;

    if (dest->slot == NULL || dest->slot->u.dest.paused_until == 0) {
        return 0;
    }

    left = (ngx_msec_int_t) ((ngx_msec_t) dest->slot->u.dest.paused_until
                             - ngx_current_msec);

    return left > 0 ? (ngx_msec_t) left : 0;
}


void
ngx_http_postmark_stats_gone(ngx_http_postmark_dest_t *dest)
{
    if (dest->slot) {
        dest->slot->u.dest.gone = ngx_http_postmark_generation;
    }
}


ngx_uint_t
ngx_http_postmark_stats_is_gone(ngx_http_postmark_dest_t *dest)
{
    return dest->slot && ngx_http_postmark_generation
           && dest->slot->u.dest.gone == ngx_http_postmark_generation;
}


/* the creation of this worker's oldest pending delivery, as last walked */

void
ngx_http_postmark_stats_oldest(ngx_http_postmark_dest_t *dest,
    uint64_t created)
{
    ngx_http_postmark_row_t  *row;

    row = ngx_http_postmark_stats_own(dest);

    if (row) {
        row->oldest = (ngx_atomic_uint_t) created;
    }
}


/* the age of every worker's oldest, in seconds; 0 when none waits */

ngx_uint_t
ngx_http_postmark_stats_oldest_age(ngx_http_postmark_dest_t *dest)
{
    uint64_t                   oldest, o, now;
    ngx_uint_t                 i;
    ngx_time_t                *tp;
    ngx_http_postmark_zone_t  *z;

    z = ngx_http_postmark_zone;
    oldest = 0;

    for (i = 0; i < 2 * z->workers; i++) {
        o = z->rows[i * z->nslots + dest->slot->index].oldest;

        if (o && (oldest == 0 || o < oldest)) {
            oldest = o;
        }
    }

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    return (oldest && now > oldest) ? (ngx_uint_t) ((now - oldest) / 1000)
                                    : 0;
}


/*
 * The circuit breaker of a destination, one for every worker: a word with
 * the state in its low two bits and, above them, the time (ngx_current_msec,
 * the same clock in every process) until which it is open, or until which
 * a probe may run before another worker takes its place.  It changes only
 * by compare-and-swap, so that one worker opens it, and one probes.
 */

#define ngx_http_postmark_breaker_word(until, state)                         \
    ((ngx_atomic_uint_t) (until) << 2 | (state))


/*
 * Whether an attempt may start: NGX_OK when closed; NGX_DONE when open no
 * longer and this worker's next attempt is the probe, for at most "probe"
 * ms; NGX_AGAIN, and "wait" ms until it is worth asking again.
 */

ngx_int_t
ngx_http_postmark_breaker_admit(ngx_http_postmark_dest_t *dest,
    ngx_msec_t probe, ngx_msec_t *wait)
{
    ngx_msec_t          until;
    ngx_atomic_t       *b;
    ngx_atomic_uint_t   w;

    if (dest->slot == NULL) {
        return NGX_OK;
    }

    b = &dest->slot->u.dest.breaker;

    for ( ;; ) {
        w = *b;

        if ((w & 3) == NGX_HTTP_POSTMARK_BREAKER_CLOSED) {
            return NGX_OK;
        }

        until = (ngx_msec_t) (w >> 2);

        if ((ngx_msec_int_t) (until - ngx_current_msec) > 0) {

            /* a probe elsewhere: ask again soon, it may have closed it */

            *wait = until - ngx_current_msec;

            if ((w & 3) == NGX_HTTP_POSTMARK_BREAKER_PROBING) {
                *wait = ngx_min(*wait, 1000);
            }

            return NGX_AGAIN;
        }

        if (ngx_atomic_cmp_set(b, w,
                ngx_http_postmark_breaker_word(ngx_current_msec + probe,
                                    NGX_HTTP_POSTMARK_BREAKER_PROBING)))
        {
            return NGX_DONE;
        }
    }
}


/* an attempt passed: 1 when it closed the breaker */

ngx_uint_t
ngx_http_postmark_breaker_passed(ngx_http_postmark_dest_t *dest)
{
    ngx_atomic_uint_t           w;
    ngx_http_postmark_dstat_t  *ds;

    if (dest->slot == NULL) {
        return 0;
    }

    ds = &dest->slot->u.dest;
    ds->failed_in_a_row = 0;

    for ( ;; ) {
        w = ds->breaker;

        if ((w & 3) == NGX_HTTP_POSTMARK_BREAKER_CLOSED) {
            return 0;
        }

        if (ngx_atomic_cmp_set(&ds->breaker, w,
                               NGX_HTTP_POSTMARK_BREAKER_CLOSED))
        {
            return 1;
        }
    }
}


/*
 * An attempt failed ("probe": it was this worker's probe): the wait, when
 * this failure opened the breaker, or 0.  After breaker_failures failures
 * in a row of any workers, the breaker opens for breaker_wait; each failed
 * probe doubles the wait, up to the largest backoff.
 */

ngx_msec_t
ngx_http_postmark_breaker_failed(ngx_http_postmark_dest_t *dest,
    ngx_uint_t probe, ngx_uint_t *failures)
{
    ngx_msec_t                   wait;
    ngx_atomic_uint_t            w;
    ngx_http_postmark_dstat_t   *ds;
    ngx_http_postmark_policy_t  *policy;

    *failures = 0;

    if (dest->slot == NULL) {
        return 0;
    }

    ds = &dest->slot->u.dest;
    policy = &dest->policy;

    *failures = ngx_atomic_fetch_add(&ds->failed_in_a_row, 1) + 1;

    if (policy->breaker_failures == 0) {
        return 0;
    }

    for ( ;; ) {
        w = ds->breaker;

        if ((w & 3) == NGX_HTTP_POSTMARK_BREAKER_PROBING && probe) {
            wait = ngx_min(2 * ds->breaker_wait,
                           ngx_max(policy->backoff_max,
                                   policy->breaker_wait));

        } else if ((w & 3) == NGX_HTTP_POSTMARK_BREAKER_CLOSED
                   && *failures >= policy->breaker_failures)
        {
            wait = policy->breaker_wait;

        } else {
            return 0;
        }

        if (ngx_atomic_cmp_set(&ds->breaker, w,
                ngx_http_postmark_breaker_word(ngx_current_msec + wait,
                                    NGX_HTTP_POSTMARK_BREAKER_OPEN)))
        {
            ds->breaker_wait = wait;
            return wait;
        }
    }
}


ngx_uint_t
ngx_http_postmark_breaker_state(ngx_http_postmark_dest_t *dest,
    ngx_uint_t *failures)
{
    if (dest->slot == NULL) {
        *failures = 0;
        return NGX_HTTP_POSTMARK_BREAKER_CLOSED;
    }

    *failures = dest->slot->u.dest.failed_in_a_row;

    return dest->slot->u.dest.breaker & 3;
}


/*
 * The spool's size for all workers: what the last scan of any worker
 * measured, plus what every worker wrote since that scan began.  Writes
 * take their room first, so that workers writing at once cannot together
 * go past max_size.
 */

void
ngx_http_postmark_stats_spool(off_t bytes, ngx_uint_t segments,
    ngx_uint_t dead, ngx_atomic_uint_t mark)
{
    ngx_http_postmark_totals_t  *t;

    if (ngx_http_postmark_zone == NULL) {
        return;
    }

    t = &ngx_http_postmark_zone->totals;

    t->spool_bytes = (ngx_atomic_uint_t) bytes;
    t->spool_written_at_scan = mark;
    t->spool_segments = segments;
    t->dead_letters = dead;
}


/* when a scan begins: what was written before is in what it measures */

ngx_atomic_uint_t
ngx_http_postmark_stats_spool_mark(void)
{
    return ngx_http_postmark_zone
           ? ngx_http_postmark_zone->totals.spool_written : 0;
}


/* room for "size" more bytes under "max", taken; 0: the spool is full */

ngx_uint_t
ngx_http_postmark_stats_spool_take(off_t size, off_t max)
{
    ngx_atomic_uint_t            before;
    ngx_http_postmark_totals_t  *t;

    if (ngx_http_postmark_zone == NULL) {
        return 1;
    }

    t = &ngx_http_postmark_zone->totals;

    before = ngx_atomic_fetch_add(&t->spool_written, size);

    if ((off_t) (t->spool_bytes + before - t->spool_written_at_scan) + size
        > max)
    {
        (void) ngx_atomic_fetch_add(&t->spool_written, -size);
        return 0;
    }

    return 1;
}


off_t
ngx_http_postmark_stats_spool_size(void)
{
    ngx_http_postmark_totals_t  *t;

    if (ngx_http_postmark_zone == NULL) {
        return 0;
    }

    t = &ngx_http_postmark_zone->totals;

    return (off_t) (t->spool_bytes + t->spool_written
                    - t->spool_written_at_scan);
}


/* what every worker has now: attempts, pending deliveries, the breaker */

void
ngx_http_postmark_stats_sum(ngx_http_postmark_dest_t *dest,
    ngx_uint_t *in_flight, ngx_uint_t *pending, ngx_uint_t *breaker)
{
    ngx_uint_t                 i, failures;
    ngx_http_postmark_zone_t  *z;

    z = ngx_http_postmark_zone;

    *in_flight = dest->slot->u.dest.in_flight;
    *breaker = ngx_http_postmark_breaker_state(dest, &failures);
    *pending = 0;

    for (i = 0; i < 2 * z->workers; i++) {
        *pending += z->rows[i * z->nslots + dest->slot->index].pending;
    }
}
