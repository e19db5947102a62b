
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The metrics location: what all workers counted, in Prometheus's text
 * format 0.0.4.  Every series the configuration implies is there from the
 * start, at zero; labels are the names of clients and destinations in the
 * configuration, never URLs.  Counters are read without a lock, each once:
 * a histogram's buckets are summed here, so that its +Inf bucket is its
 * count even while workers add to it.
 */


#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_stats.h"
#include "ngx_http_postmark_retry.h"


#define NGX_HTTP_POSTMARK_METRICS_BUF   65536


typedef struct {
    ngx_http_request_t             *request;
    ngx_chain_t                    *out;
    ngx_chain_t                   **last;
    ngx_buf_t                      *buf;
    ngx_str_t                       only;       /* ?client=, or empty */
    ngx_uint_t                      lite;       /* ?level=lite */
    ngx_int_t                       rc;
} ngx_http_postmark_render_t;


typedef void (*ngx_http_postmark_family_pt)(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);


static void ngx_http_postmark_family(ngx_http_postmark_render_t *ctx,
    const char *name, const char *type, const char *help,
    ngx_http_postmark_family_pt client, ngx_http_postmark_family_pt dest);
static void ngx_http_postmark_printf(ngx_http_postmark_render_t *ctx,
    const char *fmt, ...);
static void ngx_http_postmark_sample(ngx_http_postmark_render_t *ctx,
    const char *name, ngx_http_postmark_client_t *client,
    ngx_http_postmark_dest_t *dest, ngx_atomic_uint_t value);
static void ngx_http_postmark_series(ngx_http_postmark_render_t *ctx,
    const char *name, ngx_http_postmark_client_t *client,
    ngx_http_postmark_dest_t *dest, const char *label, const char **names,
    ngx_atomic_t *values);
static void ngx_http_postmark_labels(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_label_value(ngx_http_postmark_render_t *ctx,
    ngx_str_t *value);
static void ngx_http_postmark_totals(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_totals_t *t);
static void ngx_http_postmark_webhook_requests(
    ngx_http_postmark_render_t *ctx, ngx_http_postmark_client_t *client,
    ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_events(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_last_event(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_portal_requests(
    ngx_http_postmark_render_t *ctx, ngx_http_postmark_client_t *client,
    ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_deliveries(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_attempts(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_durations(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_retries(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_sent(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_pending(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_in_flight(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_oldest(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_max_concurrent(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static void ngx_http_postmark_breakers(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);


ngx_int_t
ngx_http_postmark_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    u_char                      *dst, *src;
    ngx_str_t                    only, format, level;
    ngx_chain_t                 *cl;
    ngx_http_postmark_totals_t  *t;
    ngx_http_postmark_render_t   ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    t = ngx_http_postmark_stats_totals();

    if (t == NULL) {
        return ngx_http_postmark_send_status(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                   "unavailable", "this process counts nothing: no "
                   "postmark_client is configured");
    }

    ngx_memzero(&ctx, sizeof(ngx_http_postmark_render_t));
    ctx.request = r;
    ctx.last = &ctx.out;

    /* a name is sent percent-encoded where it holds what a query cannot */

    if (ngx_http_arg(r, (u_char *) "client", 6, &only) == NGX_OK) {
        ctx.only.data = ngx_pnalloc(r->pool, only.len);
        if (ctx.only.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        dst = ctx.only.data;
        src = only.data;
        ngx_unescape_uri(&dst, &src, only.len, 0);
        ctx.only.len = dst - ctx.only.data;
    }

    /*
     * "lite" keeps, per client and destination, what alerts need: the
     * outcomes of requests and deliveries, the backlog and its age, the
     * breaker; about a quarter of the series, for thousands of clients.
     */

    if (ngx_http_arg(r, (u_char *) "level", 5, &level) == NGX_OK) {
        if (level.len != 4 || ngx_strncmp(level.data, "lite", 4) != 0) {
            return ngx_http_postmark_send_status(r, NGX_HTTP_BAD_REQUEST,
                       "bad_level", "level= takes lite; without it every "
                       "series is served");
        }

        ctx.lite = 1;
    }

    if (ngx_http_arg(r, (u_char *) "format", 6, &format) == NGX_OK) {
        if (format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0) {
            return ngx_http_postmark_status_json(r, &ctx.only);
        }

        if (format.len == 4 && ngx_strncmp(format.data, "html", 4) == 0) {
            return ngx_http_postmark_page(r);
        }

        return ngx_http_postmark_send_status(r, NGX_HTTP_BAD_REQUEST,
                   "bad_format", "format= takes json or html; without it "
                   "the metrics are in Prometheus's text format");
    }

    ngx_http_postmark_totals(&ctx, t);

    ngx_http_postmark_family(&ctx, "webhook_requests_total", "counter",
        "Webhook requests of a client, by the outcome $postmark_outcome "
        "has.", ngx_http_postmark_webhook_requests, NULL);
    ngx_http_postmark_family(&ctx, "last_event_timestamp_seconds", "gauge",
        "Unix time of the client's last event; 0 before the first.",
        ngx_http_postmark_last_event, NULL);
    ngx_http_postmark_family(&ctx, "deliveries_total", "counter",
        "Events of a destination by how they ended: delivered, failed "
        "(a direct forward, Postmark retries), dead_lettered.",
        NULL, ngx_http_postmark_deliveries);

    if (!ctx.lite) {
        ngx_http_postmark_family(&ctx, "events_total", "counter",
            "Events of a client that reached its filters, by RecordType.",
            ngx_http_postmark_events, NULL);
        ngx_http_postmark_family(&ctx, "portal_requests_total", "counter",
            "Calls to the client's portal API, by outcome.",
            ngx_http_postmark_portal_requests, NULL);
        ngx_http_postmark_family(&ctx, "delivery_attempts_total", "counter",
            "Attempts to deliver to a destination, by result.",
            NULL, ngx_http_postmark_attempts);
        ngx_http_postmark_family(&ctx, "delivery_attempt_duration_seconds",
            "histogram", "How long one attempt to a destination took.",
            NULL, ngx_http_postmark_durations);
        ngx_http_postmark_family(&ctx, "delivery_retries_total", "counter",
            "Spooled attempts that failed and were scheduled again.",
            NULL, ngx_http_postmark_retries);
        ngx_http_postmark_family(&ctx, "sent_bytes_total", "counter",
            "Bytes of events sent to a destination, in all attempts.",
            NULL, ngx_http_postmark_sent);
        ngx_http_postmark_family(&ctx, "in_flight_deliveries", "gauge",
            "Attempts under way, in all workers.",
            NULL, ngx_http_postmark_in_flight);
        ngx_http_postmark_family(&ctx, "max_concurrent_deliveries", "gauge",
            "The max_concurrent of a destination, for all workers; 0: "
            "none.", NULL, ngx_http_postmark_max_concurrent);
    }

    ngx_http_postmark_family(&ctx, "pending_deliveries", "gauge",
        "Spooled deliveries waiting, in all workers.",
        NULL, ngx_http_postmark_pending);
    ngx_http_postmark_family(&ctx, "oldest_pending_age_seconds", "gauge",
        "Age of the oldest spooled delivery waiting, in all workers, as "
        "last counted (every few seconds); 0: none waits.",
        NULL, ngx_http_postmark_oldest);
    ngx_http_postmark_family(&ctx, "circuit_breaker_state", "gauge",
        "The circuit breaker of a spooled destination, one for all "
        "workers: 1 for its state.",
        NULL, ngx_http_postmark_breakers);

    if (ctx.rc != NGX_OK || ctx.out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx.buf->last_buf = (r == r->main);
    ctx.buf->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (cl = ctx.out; cl; cl = cl->next) {
        r->headers_out.content_length_n += cl->buf->last - cl->buf->pos;
    }

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, ctx.out);
}


/* one family: its HELP and TYPE once, then its series for every one */

static void
ngx_http_postmark_family(ngx_http_postmark_render_t *ctx, const char *name,
    const char *type, const char *help, ngx_http_postmark_family_pt client,
    ngx_http_postmark_family_pt dest)
{
    ngx_uint_t                      i, j;
    ngx_http_postmark_dest_t       *dests;
    ngx_http_postmark_client_t    **clients, *c;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(ctx->request,
                                         ngx_http_postmark_module);

    ngx_http_postmark_printf(ctx, "# HELP nginx_postmark_%s %s\n"
                             "# TYPE nginx_postmark_%s %s\n",
                             name, help, name, type);

    clients = pmcf->clients.elts;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        c = clients[i];

        if (c->slot == NULL
            || (ctx->only.len
                && (ctx->only.len != c->name.len
                    || ngx_strncmp(ctx->only.data, c->name.data,
                                   c->name.len) != 0)))
        {
            continue;
        }

        if (client) {
            client(ctx, c, NULL);
            continue;
        }

        dests = c->dests.elts;

        for (j = 0; j < c->dests.nelts; j++) {
            if (dests[j].slot) {
                dest(ctx, c, &dests[j]);
            }
        }
    }
}


static void
ngx_http_postmark_totals(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_totals_t *t)
{
    ngx_uint_t                      i;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(ctx->request,
                                         ngx_http_postmark_module);

    ngx_http_postmark_printf(ctx,
        "# HELP nginx_postmark_info The module's version, and nginx's.\n"
        "# TYPE nginx_postmark_info gauge\n"
        "nginx_postmark_info{version=\"%s\",nginx_version=\"%s\"} 1\n"
        "# HELP nginx_postmark_config_generation Configurations loaded "
        "since the shared zone was made.\n"
        "# TYPE nginx_postmark_config_generation gauge\n"
        "nginx_postmark_config_generation %ui\n"
        "# HELP nginx_postmark_config_load_timestamp_seconds Unix time the "
        "running configuration was loaded.\n"
        "# TYPE nginx_postmark_config_load_timestamp_seconds gauge\n"
        "nginx_postmark_config_load_timestamp_seconds %T\n",
        NGX_HTTP_POSTMARK_VERSION, NGINX_VERSION, t->generation, t->loaded);

    ngx_http_postmark_printf(ctx,
        "# HELP nginx_postmark_webhook_rejected_total Webhook requests "
        "refused before a client was known, by reason.\n"
        "# TYPE nginx_postmark_webhook_rejected_total counter\n");

    for (i = 0; i < NGX_HTTP_POSTMARK_R_N; i++) {
        ngx_http_postmark_printf(ctx,
            "nginx_postmark_webhook_rejected_total{reason=\"%s\"} %uA\n",
            ngx_http_postmark_rejections[i], t->rejected[i]);
    }

    if (pmcf->spool.len) {
        ngx_http_postmark_printf(ctx,
            "# HELP nginx_postmark_spool_size_bytes The spool on disk, as "
            "last scanned, with what every worker wrote since.\n"
            "# TYPE nginx_postmark_spool_size_bytes gauge\n"
            "nginx_postmark_spool_size_bytes %O\n"
            "# HELP nginx_postmark_spool_max_size_bytes The spool's "
            "max_size.\n"
            "# TYPE nginx_postmark_spool_max_size_bytes gauge\n"
            "nginx_postmark_spool_max_size_bytes %O\n"
            "# HELP nginx_postmark_spool_segments Segment files of the "
            "spool, as last scanned.\n"
            "# TYPE nginx_postmark_spool_segments gauge\n"
            "nginx_postmark_spool_segments %uA\n"
            "# HELP nginx_postmark_dead_letters Dead letters waiting for a "
            "replay, as last scanned.\n"
            "# TYPE nginx_postmark_dead_letters gauge\n"
            "nginx_postmark_dead_letters %uA\n",
            ngx_http_postmark_stats_spool_size(), pmcf->spool_max_size,
            t->spool_segments,
            t->dead_letters);
    }

    ngx_http_postmark_printf(ctx,
        "# HELP nginx_postmark_zone_size_bytes The shared zone \"postmark\"."
        "\n"
        "# TYPE nginx_postmark_zone_size_bytes gauge\n"
        "nginx_postmark_zone_size_bytes %uz\n", t->size);
}


static void
ngx_http_postmark_webhook_requests(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_series(ctx, "webhook_requests_total", client, NULL,
                             "outcome", ngx_http_postmark_webhook_outcomes,
                             ngx_http_postmark_stats_client(client)->webhook);
}


static void
ngx_http_postmark_events(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_series(ctx, "events_total", client, NULL,
                             "record_type", ngx_http_postmark_record_types,
                             ngx_http_postmark_stats_client(client)->events);
}


static void
ngx_http_postmark_last_event(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_sample(ctx, "last_event_timestamp_seconds", client,
                             NULL,
                             ngx_http_postmark_stats_client(client)
                                 ->last_event);
}


static void
ngx_http_postmark_portal_requests(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_series(ctx, "portal_requests_total", client, NULL,
                             "outcome", ngx_http_postmark_portal_outcomes,
                             ngx_http_postmark_stats_client(client)->portal);
}


static void
ngx_http_postmark_deliveries(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_series(ctx, "deliveries_total", client, dest,
                             "outcome", ngx_http_postmark_delivery_outcomes,
                             ngx_http_postmark_stats_dest(dest)->deliveries);
}


static void
ngx_http_postmark_attempts(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_series(ctx, "delivery_attempts_total", client, dest,
                             "result", ngx_http_postmark_attempt_results,
                             ngx_http_postmark_stats_dest(dest)->attempts);
}


/* each bucket read once; the cumulative +Inf is the count */

static void
ngx_http_postmark_durations(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_uint_t                  i;
    ngx_atomic_uint_t           sum, ms;
    ngx_http_postmark_dstat_t  *ds;

    ds = ngx_http_postmark_stats_dest(dest);
    sum = 0;

    for (i = 0; i < NGX_HTTP_POSTMARK_BUCKETS; i++) {
        sum += ds->duration[i];

        ngx_http_postmark_printf(ctx,
            "nginx_postmark_delivery_attempt_duration_seconds_bucket");
        ngx_http_postmark_labels(ctx, client, dest);

        if (i == NGX_HTTP_POSTMARK_BUCKETS - 1) {
            ngx_http_postmark_printf(ctx, ",le=\"+Inf\"} %uA\n", sum);

        } else {
            ngx_http_postmark_printf(ctx, ",le=\"%M.%03M\"} %uA\n",
                                     ngx_http_postmark_buckets[i] / 1000,
                                     ngx_http_postmark_buckets[i] % 1000,
                                     sum);
        }
    }

    ms = ds->duration_ms;

    ngx_http_postmark_printf(ctx,
        "nginx_postmark_delivery_attempt_duration_seconds_sum");
    ngx_http_postmark_labels(ctx, client, dest);
    ngx_http_postmark_printf(ctx, "} %uA.%03uA\n", ms / 1000, ms % 1000);

    ngx_http_postmark_printf(ctx,
        "nginx_postmark_delivery_attempt_duration_seconds_count");
    ngx_http_postmark_labels(ctx, client, dest);
    ngx_http_postmark_printf(ctx, "} %uA\n", sum);
}


static void
ngx_http_postmark_retries(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_sample(ctx, "delivery_retries_total", client, dest,
                             ngx_http_postmark_stats_dest(dest)->retries);
}


static void
ngx_http_postmark_sent(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_sample(ctx, "sent_bytes_total", client, dest,
                             ngx_http_postmark_stats_dest(dest)->sent_bytes);
}


static void
ngx_http_postmark_pending(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_uint_t  in_flight, pending, breaker;

    ngx_http_postmark_stats_sum(dest, &in_flight, &pending, &breaker);
    ngx_http_postmark_sample(ctx, "pending_deliveries", client, dest, pending);
}


static void
ngx_http_postmark_in_flight(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_uint_t  in_flight, pending, breaker;

    ngx_http_postmark_stats_sum(dest, &in_flight, &pending, &breaker);
    ngx_http_postmark_sample(ctx, "in_flight_deliveries", client, dest,
                             in_flight);
}


static void
ngx_http_postmark_oldest(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_sample(ctx, "oldest_pending_age_seconds", client, dest,
                             ngx_http_postmark_stats_oldest_age(dest));
}


static void
ngx_http_postmark_max_concurrent(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_sample(ctx, "max_concurrent_deliveries", client, dest,
                             dest->policy.max_concurrent);
}


/* a state set: one series per state, exactly one of them 1 */

static void
ngx_http_postmark_breakers(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_uint_t   i, in_flight, pending, breaker;

    static const char  *states[] = { "closed", "open", "half_open" };

    ngx_http_postmark_stats_sum(dest, &in_flight, &pending, &breaker);

    for (i = 0; i < 3; i++) {
        ngx_http_postmark_printf(ctx, "nginx_postmark_circuit_breaker_state");
        ngx_http_postmark_labels(ctx, client, dest);
        ngx_http_postmark_printf(ctx, ",state=\"%s\"} %d\n", states[i],
                                 breaker == i);
    }
}


/* one series of a client, or of its destination "dest" */

static void
ngx_http_postmark_sample(ngx_http_postmark_render_t *ctx, const char *name,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest,
    ngx_atomic_uint_t value)
{
    ngx_http_postmark_printf(ctx, "nginx_postmark_%s", name);
    ngx_http_postmark_labels(ctx, client, dest);
    ngx_http_postmark_printf(ctx, "} %uA\n", value);
}


/* one series per name of "names", with "label" set to it */

static void
ngx_http_postmark_series(ngx_http_postmark_render_t *ctx, const char *name,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest,
    const char *label, const char **names, ngx_atomic_t *values)
{
    ngx_uint_t  i;

    for (i = 0; names[i]; i++) {
        ngx_http_postmark_printf(ctx, "nginx_postmark_%s", name);
        ngx_http_postmark_labels(ctx, client, dest);
        ngx_http_postmark_printf(ctx, ",%s=\"%s\"} %uA\n", label, names[i],
                                 values[i]);
    }
}


/* {client="...",destination="..."  -- the caller closes the braces */

static void
ngx_http_postmark_labels(ngx_http_postmark_render_t *ctx,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    ngx_http_postmark_printf(ctx, "{client=\"");
    ngx_http_postmark_label_value(ctx, &client->name);

    if (dest) {
        ngx_http_postmark_printf(ctx, "\",destination=\"");
        ngx_http_postmark_label_value(ctx, &dest->name);
    }

    ngx_http_postmark_printf(ctx, "\"");
}


/* as the text format escapes them: backslash, double quote, newline */

static void
ngx_http_postmark_label_value(ngx_http_postmark_render_t *ctx,
    ngx_str_t *value)
{
    u_char      esc[2 * 256 + 1], *p;
    ngx_uint_t  i;

    p = esc;

    for (i = 0; i < value->len && i < 256; i++) {
        if (value->data[i] == '\\' || value->data[i] == '"') {
            *p++ = '\\';
            *p++ = value->data[i];

        } else if (value->data[i] == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = value->data[i];
        }
    }

    *p = '\0';

    ngx_http_postmark_printf(ctx, "%s", esc);
}


/* into the last buffer, or a new one when it would not fit */

static void
ngx_http_postmark_printf(ngx_http_postmark_render_t *ctx, const char *fmt,
    ...)
{
    u_char       line[4096], *end;
    size_t       len;
    va_list      args;
    ngx_buf_t   *b;
    ngx_chain_t *cl;

    if (ctx->rc != NGX_OK) {
        return;
    }

    va_start(args, fmt);
    end = ngx_vslprintf(line, line + sizeof(line), fmt, args);
    va_end(args);

    len = end - line;
    b = ctx->buf;

    if (b == NULL || (size_t) (b->end - b->last) < len) {
        b = ngx_create_temp_buf(ctx->request->pool,
                                ngx_max(len, NGX_HTTP_POSTMARK_METRICS_BUF));
        cl = ngx_alloc_chain_link(ctx->request->pool);

        if (b == NULL || cl == NULL) {
            ctx->rc = NGX_ERROR;
            return;
        }

        cl->buf = b;
        cl->next = NULL;
        *ctx->last = cl;
        ctx->last = &cl->next;
        ctx->buf = b;
    }

    b->last = ngx_cpymem(b->last, line, len);
}
