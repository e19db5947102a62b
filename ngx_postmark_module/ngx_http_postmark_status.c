
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The metrics location's JSON (?format=json): the same facts as the
 * Prometheus text, keyed by client and destination name, in the shape
 * t/schema/status.json describes.  Absent times are null, never 0.
 */


#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_stats.h"
#include "ngx_http_postmark_retry.h"

#include <cjson/cJSON.h>


static cJSON *ngx_http_postmark_status_client(ngx_http_postmark_client_t *c);
static cJSON *ngx_http_postmark_status_dest(ngx_http_postmark_dest_t *dest);
static cJSON *ngx_http_postmark_status_set(const char **names,
    ngx_atomic_t *values, ngx_uint_t n);
static ngx_int_t ngx_http_postmark_status_failures(cJSON *json,
    ngx_http_postmark_dstat_t *ds);
static cJSON *ngx_http_postmark_status_time(time_t t);
static cJSON *ngx_http_postmark_status_str(ngx_str_t *s);


ngx_int_t
ngx_http_postmark_status_json(ngx_http_request_t *r, ngx_str_t *only)
{
    ngx_uint_t                      i;
    ngx_time_t                     *tp;
    ngx_core_conf_t                *ccf;
    cJSON                          *json, *nginx, *item, *clients, *client;
    ngx_http_postmark_client_t    **cs;
    ngx_http_postmark_totals_t     *t;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_postmark_module);
    t = ngx_http_postmark_stats_totals();
    tp = ngx_timeofday();

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    json = cJSON_CreateObject();
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the shape's version: t/schema/status.json */

    cJSON_AddNumberToObject(json, "version", 1);

    nginx = cJSON_AddObjectToObject(json, "nginx");
    if (nginx == NULL) {
        cJSON_Delete(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(nginx, "version", NGINX_VERSION);
    cJSON_AddStringToObject(nginx, "module_version",
                            NGX_HTTP_POSTMARK_VERSION);
    cJSON_AddNumberToObject(nginx, "generation", (double) t->generation);
    cJSON_AddItemToObject(nginx, "load_timestamp",
                          ngx_http_postmark_status_time(t->loaded));
    cJSON_AddItemToObject(nginx, "timestamp",
                          ngx_http_postmark_status_time(tp->sec));
    cJSON_AddNumberToObject(nginx, "now_msec",
                            (double) tp->sec * 1000 + tp->msec);
    cJSON_AddNumberToObject(nginx, "pid", (double) ngx_pid);
    cJSON_AddNumberToObject(nginx, "workers",
                            (double) ccf->worker_processes);

    item = cJSON_AddObjectToObject(json, "zone");
    if (item) {
        cJSON_AddStringToObject(item, "name", "postmark");
        cJSON_AddNumberToObject(item, "size", (double) t->size);
    }

    if (pmcf->spool.len) {
        item = cJSON_AddObjectToObject(json, "spool");
        if (item) {
            cJSON_AddNumberToObject(item, "bytes",
                              (double) ngx_http_postmark_stats_spool_size());
            cJSON_AddNumberToObject(item, "max_size",
                                    (double) pmcf->spool_max_size);
            cJSON_AddNumberToObject(item, "segments",
                                    (double) t->spool_segments);
            cJSON_AddNumberToObject(item, "dead_letters",
                                    (double) t->dead_letters);
        }

    } else {
        cJSON_AddNullToObject(json, "spool");
    }

    item = cJSON_AddObjectToObject(json, "receiver");
    if (item) {
        cJSON_AddItemToObject(item, "rejected",
            ngx_http_postmark_status_set(ngx_http_postmark_rejections,
                                         t->rejected, NGX_HTTP_POSTMARK_R_N));
    }

    clients = cJSON_AddObjectToObject(json, "clients");
    if (clients == NULL) {
        cJSON_Delete(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cs = pmcf->clients.elts;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        if (cs[i]->slot == NULL
            || (only->len
                && (only->len != cs[i]->name.len
                    || ngx_strncmp(only->data, cs[i]->name.data,
                                   only->len) != 0)))
        {
            continue;
        }

        client = ngx_http_postmark_status_client(cs[i]);
        if (client == NULL) {
            cJSON_Delete(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* names are the configuration's, unique; cJSON escapes them */

        cJSON_AddItemToObject(clients, (char *) cs[i]->name.data, client);
    }

    return ngx_http_postmark_send_cjson(r, NGX_HTTP_OK, json);
}


static cJSON *
ngx_http_postmark_status_client(ngx_http_postmark_client_t *c)
{
    ngx_uint_t                  i;
    cJSON                      *json, *dests, *dest;
    u_char                      name[320];
    ngx_http_postmark_dest_t   *ds;
    ngx_http_postmark_cstat_t  *cs;

    cs = ngx_http_postmark_stats_client(c);

    json = cJSON_CreateObject();
    if (json == NULL) {
        return NULL;
    }

    cJSON_AddItemToObject(json, "requests",
        ngx_http_postmark_status_set(ngx_http_postmark_webhook_outcomes,
                                     cs->webhook, NGX_HTTP_POSTMARK_W_N));
    cJSON_AddItemToObject(json, "events",
        ngx_http_postmark_status_set(ngx_http_postmark_record_types,
                                     cs->events, NGX_HTTP_POSTMARK_T_N));
    cJSON_AddItemToObject(json, "last_event",
                          ngx_http_postmark_status_time(cs->last_event));
    cJSON_AddItemToObject(json, "portal",
        ngx_http_postmark_status_set(ngx_http_postmark_portal_outcomes,
                                     cs->portal, NGX_HTTP_POSTMARK_P_N));

    dests = cJSON_AddObjectToObject(json, "destinations");
    if (dests == NULL) {
        cJSON_Delete(json);
        return NULL;
    }

    ds = c->dests.elts;

    for (i = 0; i < c->dests.nelts; i++) {
        if (ds[i].slot == NULL) {
            continue;
        }

        dest = ngx_http_postmark_status_dest(&ds[i]);
        if (dest == NULL) {
            cJSON_Delete(json);
            return NULL;
        }

        ngx_http_postmark_printable(name, sizeof(name),
                                    (char *) ds[i].name.data,
                                    ds[i].name.len, '?');

        cJSON_AddItemToObject(dests, (char *) name, dest);
    }

    return json;
}


static cJSON *
ngx_http_postmark_status_dest(ngx_http_postmark_dest_t *dest)
{
    char                       key[NGX_INT_T_LEN + 1];
    ngx_uint_t                 i, in_flight, pending, breaker;
    cJSON                     *json, *hist, *buckets;
    ngx_atomic_uint_t          count;
    ngx_http_postmark_dstat_t *ds;

    static const char  *states[] = { "closed", "open", "half_open" };

    ds = ngx_http_postmark_stats_dest(dest);
    ngx_http_postmark_stats_sum(dest, &in_flight, &pending, &breaker);

    json = cJSON_CreateObject();
    if (json == NULL) {
        return NULL;
    }

    cJSON_AddItemToObject(json, "host",
                          ngx_http_postmark_status_str(&dest->host));
    cJSON_AddStringToObject(json, "mode",
                            dest->policy.delivery == NGX_HTTP_POSTMARK_SPOOLED
                            ? "spooled" : "direct");
    cJSON_AddStringToObject(json, "circuit_breaker",
                            states[breaker < 3 ? breaker : 0]);
    cJSON_AddBoolToObject(json, "paused",
                          ngx_http_postmark_stats_paused(dest) > 0);
    cJSON_AddBoolToObject(json, "gone", ngx_http_postmark_stats_is_gone(dest));
    cJSON_AddNumberToObject(json, "pending", (double) pending);
    cJSON_AddNumberToObject(json, "oldest_pending_age_seconds",
                            (double) ngx_http_postmark_stats_oldest_age(dest));
    cJSON_AddNumberToObject(json, "in_flight", (double) in_flight);
    cJSON_AddNumberToObject(json, "max_concurrent",
                            (double) dest->policy.max_concurrent);
    cJSON_AddItemToObject(json, "deliveries",
        ngx_http_postmark_status_set(ngx_http_postmark_delivery_outcomes,
                                     ds->deliveries, NGX_HTTP_POSTMARK_D_N));
    cJSON_AddItemToObject(json, "attempts",
        ngx_http_postmark_status_set(ngx_http_postmark_attempt_results,
                                     ds->attempts, NGX_HTTP_POSTMARK_A_N));
    cJSON_AddNumberToObject(json, "retries", (double) ds->retries);
    cJSON_AddNumberToObject(json, "sent_bytes", (double) ds->sent_bytes);

    /* non-cumulative buckets, by upper bound in ms; "inf" the last */

    hist = cJSON_AddObjectToObject(json, "attempt_duration");
    buckets = hist ? cJSON_AddObjectToObject(hist, "buckets") : NULL;

    if (buckets == NULL) {
        cJSON_Delete(json);
        return NULL;
    }

    count = 0;

    for (i = 0; i < NGX_HTTP_POSTMARK_BUCKETS; i++) {
        count += ds->duration[i];

        if (i == NGX_HTTP_POSTMARK_BUCKETS - 1) {
            ngx_cpystrn((u_char *) key, (u_char *) "inf", sizeof(key));

        } else {
            *ngx_sprintf((u_char *) key, "%M", ngx_http_postmark_buckets[i])
                = '\0';
        }

        cJSON_AddNumberToObject(buckets, key, (double) ds->duration[i]);
    }

    cJSON_AddNumberToObject(hist, "sum_ms", (double) ds->duration_ms);
    cJSON_AddNumberToObject(hist, "count", (double) count);

    if (ngx_http_postmark_status_failures(json, ds) != NGX_OK) {
        cJSON_Delete(json);
        return NULL;
    }

    return json;
}


/* the last failed attempts, the latest first */

static ngx_int_t
ngx_http_postmark_status_failures(cJSON *json, ngx_http_postmark_dstat_t *ds)
{
    u_char                        text[NGX_HTTP_POSTMARK_FAILURE_TEXT];
    time_t                        at;
    ngx_uint_t                    i, n, next;
    cJSON                        *list, *item;
    ngx_http_postmark_failure_t  *f;

    list = cJSON_AddArrayToObject(json, "recent_failures");
    if (list == NULL) {
        return NGX_ERROR;
    }

    next = ds->failures_next;
    n = ngx_min(next, NGX_HTTP_POSTMARK_FAILURES);

    for (i = 1; i <= n; i++) {
        f = &ds->failures[(next - i) % NGX_HTTP_POSTMARK_FAILURES];

        at = f->at;
        ngx_memcpy(text, f->text, sizeof(text));
        text[sizeof(text) - 1] = '\0';

        if (at == 0 || f->result >= NGX_HTTP_POSTMARK_A_N) {
            continue;           /* being written right now */
        }

        item = cJSON_CreateObject();
        if (item == NULL) {
            return NGX_ERROR;
        }

        cJSON_AddItemToObject(item, "at", ngx_http_postmark_status_time(at));
        cJSON_AddStringToObject(item, "result",
                                ngx_http_postmark_attempt_results[f->result]);

        if (f->status) {
            cJSON_AddNumberToObject(item, "status", (double) f->status);

        } else {
            cJSON_AddNullToObject(item, "status");
        }

        cJSON_AddStringToObject(item, "answer", (char *) text);
        cJSON_AddItemToArray(list, item);
    }

    return NGX_OK;
}


/*
 * A client's own view, through its portal and with its portal key: its
 * destinations only, by name and host (never a URL), with their health,
 * backlog and last failures.
 */

ngx_int_t
ngx_http_postmark_status_own(ngx_http_request_t *r,
    ngx_http_postmark_client_t *client)
{
    cJSON  *json, *view;

    if (client->slot == NULL || ngx_http_postmark_stats_totals() == NULL) {
        return ngx_http_postmark_send_status(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "unavailable", "nothing is counted in this process");
    }

    view = ngx_http_postmark_status_client(client);
    json = cJSON_CreateObject();

    if (view == NULL || json == NULL) {
        cJSON_Delete(view);
        cJSON_Delete(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddNumberToObject(json, "version", 1);
    cJSON_AddStringToObject(json, "client", (char *) client->name.data);
    cJSON_AddItemToObject(json, "destinations",
                          cJSON_DetachItemFromObject(view, "destinations"));
    cJSON_AddItemToObject(json, "last_event",
                          cJSON_DetachItemFromObject(view, "last_event"));
    cJSON_Delete(view);

    return ngx_http_postmark_send_cjson(r, NGX_HTTP_OK, json);
}


static cJSON *
ngx_http_postmark_status_set(const char **names, ngx_atomic_t *values,
    ngx_uint_t n)
{
    ngx_uint_t   i;
    cJSON       *json;

    json = cJSON_CreateObject();
    if (json == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        cJSON_AddNumberToObject(json, names[i], (double) values[i]);
    }

    return json;
}


/* "2026-11-27T10:41:07Z", or null for never */

static cJSON *
ngx_http_postmark_status_time(time_t t)
{
    u_char     buf[sizeof("2026-11-27T10:41:07Z")];
    ngx_tm_t   tm;

    if (t == 0) {
        return cJSON_CreateNull();
    }

    ngx_gmtime(t, &tm);

    *ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ", tm.ngx_tm_year,
                 tm.ngx_tm_mon, tm.ngx_tm_mday, tm.ngx_tm_hour,
                 tm.ngx_tm_min, tm.ngx_tm_sec) = '\0';

    return cJSON_CreateString((char *) buf);
}


static cJSON *
ngx_http_postmark_status_str(ngx_str_t *s)
{
    u_char  buf[256];

    ngx_http_postmark_printable(buf, sizeof(buf), (char *) s->data, s->len,
                                '?');

    return cJSON_CreateString((char *) buf);
}
