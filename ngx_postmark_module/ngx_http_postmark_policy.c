
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * How a destination is delivered to: direct or spooled, its timeouts,
 * concurrency, retries and circuit breaker, inherited from the client;
 * and the spool and its admin location, which spooled delivery needs.
 */


#include "ngx_http_postmark_conf.h"
#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_record.h"


static ngx_http_postmark_policy_t *ngx_http_postmark_policy_conf(
    ngx_conf_t *cf, void *conf);
static char *ngx_http_postmark_spool_path(ngx_conf_t *cf, ngx_str_t *name);


static ngx_conf_enum_t  ngx_http_postmark_deliveries[] = {
    { ngx_string("direct"), NGX_HTTP_POSTMARK_DIRECT },
    { ngx_string("spooled"), NGX_HTTP_POSTMARK_SPOOLED },
    { ngx_null_string, 0 }
};


static ngx_http_postmark_policy_t *
ngx_http_postmark_policy_conf(ngx_conf_t *cf, void *conf)
{
    if (cf->cmd_type & NGX_HTTP_POSTMARK_FORWARD_CONF) {
        return &((ngx_http_postmark_dest_t *) conf)->policy;
    }

    return &((ngx_http_postmark_client_t *) conf)->policy;
}


void
ngx_http_postmark_policy_init(ngx_http_postmark_policy_t *policy)
{
    policy->delivery = NGX_CONF_UNSET_UINT;
    policy->max_age = NGX_CONF_UNSET_MSEC;
    policy->backoff_first = NGX_CONF_UNSET_MSEC;
    policy->backoff_max = NGX_CONF_UNSET_MSEC;
    policy->max_concurrent = NGX_CONF_UNSET_UINT;
    policy->breaker_failures = NGX_CONF_UNSET_UINT;
    policy->breaker_wait = NGX_CONF_UNSET_MSEC;
}


/* a forward's own settings, else its client's, else the defaults */

void
ngx_http_postmark_policy_merge(ngx_http_postmark_policy_t *conf,
    ngx_http_postmark_policy_t *prev)
{
    ngx_conf_merge_uint_value(conf->delivery, prev->delivery,
                              NGX_HTTP_POSTMARK_DIRECT);
    ngx_conf_merge_msec_value(conf->max_age, prev->max_age,
                              3 * 24 * 60 * 60 * 1000);
    ngx_conf_merge_msec_value(conf->backoff_first, prev->backoff_first,
                              10 * 1000);
    ngx_conf_merge_msec_value(conf->backoff_max, prev->backoff_max,
                              30 * 60 * 1000);
    ngx_conf_merge_uint_value(conf->max_concurrent, prev->max_concurrent, 8);
    ngx_conf_merge_uint_value(conf->breaker_failures, prev->breaker_failures,
                              5);
    ngx_conf_merge_msec_value(conf->breaker_wait, prev->breaker_wait,
                              30 * 1000);
}


char *
ngx_http_postmark_delivery(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_policy_t  *policy;

    policy = ngx_http_postmark_policy_conf(cf, conf);

    if (policy->delivery != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    if (ngx_http_postmark_conf_enum(cf, ngx_http_postmark_deliveries,
                                    &policy->delivery)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_postmark_policy_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_conf_set_msec_slot(cf, cmd,
                                  ngx_http_postmark_policy_conf(cf, conf));
}


char *
ngx_http_postmark_check_max_age(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms < 1000 || *ms > 30 * 24 * 60 * 60 * 1000UL) {
        return "must be between 1s and 30d, such as \"retry_max_age 3d;\"";
    }

    return NGX_CONF_OK;
}


char *
ngx_http_postmark_max_concurrent(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_int_t                    n;
    ngx_str_t                   *value;
    ngx_http_postmark_policy_t  *policy;

    policy = ngx_http_postmark_policy_conf(cf, conf);

    if (policy->max_concurrent != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);

    if (n < 1 || n > 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"; write a number from 1 to "
                           "1024, such as \"max_concurrent 8;\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    policy->max_concurrent = n;

    return NGX_CONF_OK;
}


char *
ngx_http_postmark_retry_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_int_t                    first, largest;
    ngx_str_t                   *value;
    ngx_http_postmark_policy_t  *policy;

    policy = ngx_http_postmark_policy_conf(cf, conf);

    if (policy->backoff_first != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    first = ngx_parse_time(&value[1], 0);
    largest = ngx_parse_time(&value[2], 0);

    if (first == NGX_ERROR || largest == NGX_ERROR || first < 10
        || largest < first || largest > 24 * 60 * 60 * 1000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"retry_backoff %V %V\"; write the first "
                           "wait, at least 10ms, then the largest, at most "
                           "1d, such as \"retry_backoff 10s 30m;\"",
                           ngx_http_postmark_quote(cf, &value[1]),
                           ngx_http_postmark_quote(cf, &value[2]));
        return NGX_CONF_ERROR;
    }

    policy->backoff_first = first;
    policy->backoff_max = largest;

    return NGX_CONF_OK;
}


char *
ngx_http_postmark_circuit_breaker(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_int_t                    n, wait;
    ngx_str_t                   *value;
    ngx_http_postmark_policy_t  *policy;

    policy = ngx_http_postmark_policy_conf(cf, conf);

    if (policy->breaker_failures != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        policy->breaker_failures = 0;
        policy->breaker_wait = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);
    wait = 30 * 1000;

    if (cf->args->nelts == 3) {
        wait = ngx_parse_time(&value[2], 0);
    }

    if (n < 1 || n > 1000 || wait == NGX_ERROR || wait < 10
        || wait > 24 * 60 * 60 * 1000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"circuit_breaker\"; write the failures "
                           "in a row that open it (1 to 1000) and the wait "
                           "before a probe, such as \"circuit_breaker 5 "
                           "30s;\", or \"circuit_breaker off;\"");
        return NGX_CONF_ERROR;
    }

    policy->breaker_failures = n;
    policy->breaker_wait = wait;

    return NGX_CONF_OK;
}


/* retry settings written in a direct forward would silently do nothing */

char *
ngx_http_postmark_policy_check(ngx_conf_t *cf, ngx_http_postmark_dest_t *dest,
    ngx_http_postmark_policy_t *own)
{
    ngx_http_postmark_policy_t  *policy;

    policy = &dest->policy;

    if (policy->delivery == NGX_HTTP_POSTMARK_DIRECT
        && (own->max_age != NGX_CONF_UNSET_MSEC
            || own->backoff_first != NGX_CONF_UNSET_MSEC
            || own->max_concurrent != NGX_CONF_UNSET_UINT
            || own->breaker_failures != NGX_CONF_UNSET_UINT))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "retry settings of forward \"%V\" apply to spooled "
                      "delivery only; add \"delivery spooled;\" to it in "
                      "%s:%ui", &dest->display, dest->file, dest->line);
        return NGX_CONF_ERROR;
    }

    if (policy->backoff_max > policy->max_age) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "the largest \"retry_backoff\" wait of forward "
                      "\"%V\" is longer than its \"retry_max_age\"; "
                      "shorten the one or lengthen the other in %s:%ui",
                      &dest->display, dest->file, dest->line);
        return NGX_CONF_ERROR;
    }

    if (policy->delivery == NGX_HTTP_POSTMARK_SPOOLED
        && (dest->display.len > NGX_HTTP_POSTMARK_RECORD_NAME_MAX
            || dest->client->name.len > NGX_HTTP_POSTMARK_RECORD_NAME_MAX))
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "the URL of spooled forward \"%V\" is too long in "
                      "%s:%ui", &dest->display, dest->file, dest->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The spool's directory and its dead letters, created by the master at
 * startup and owned by the workers' user, as nginx's temporary paths are.
 */

char *
ngx_http_postmark_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_main_conf_t *pmcf = conf;

    u_char     *p;
    off_t       size;
    ngx_str_t  *value, path, name, s;
    ngx_uint_t  i;

    if (pmcf->spool.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_set(&name, "default");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_offset(&s);

            if (size == NGX_ERROR || size < 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\"; write the largest size "
                                   "of the spool, at least 1m, such as "
                                   "\"max_size=1g\"",
                                   ngx_http_postmark_quote(cf, &value[i]));
                return NGX_CONF_ERROR;
            }

            pmcf->spool_max_size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "thread_pool=", 12) == 0
            && value[i].len > 12)
        {
            name.data = value[i].data + 12;
            name.len = value[i].len - 12;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"; write "
                           "\"postmark_spool /var/lib/nginx/postmark "
                           "max_size=1g;\"",
                           ngx_http_postmark_quote(cf, &value[i]));
        return NGX_CONF_ERROR;
    }

    path = value[1];

    while (path.len > 1 && path.data[path.len - 1] == '/') {
        path.len--;
    }

    if (path.len == 0 || ngx_http_postmark_is_text(&path) != NGX_OK
        || (path.len == 1 && path.data[0] == '/'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid spool directory \"%V\"; write a "
                           "directory of its own, such as "
                           "\"postmark_spool /var/lib/nginx/postmark;\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* room for the names of segments and dead letters under it */

    if (path.len > NGX_MAX_PATH - 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "spool directory \"%V\" is too long", &path);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, 2 * path.len + sizeof("/dead") + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    pmcf->spool.data = p;
    pmcf->spool.len = path.len;
    p = ngx_cpymem(p, path.data, path.len);
    *p++ = '\0';

    pmcf->dead.data = p;
    pmcf->dead.len = path.len + sizeof("/dead") - 1;
    ngx_sprintf(p, "%V/dead%Z", &path);

    if (ngx_http_postmark_spool_path(cf, &pmcf->spool) != NGX_CONF_OK
        || ngx_http_postmark_spool_path(cf, &pmcf->dead) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    pmcf->thread_pool = ngx_thread_pool_add(cf, &name);
    if (pmcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_spool_path(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_path_t  *path;

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = *name;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The spool's administration: a prefix location, opened by a key of at
 * least 16 characters given as "Authorization: Bearer <key>".
 */

char *
ngx_http_postmark_spool_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_loc_conf_t *plcf = conf;

    ngx_str_t                      *value, key;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_postmark_main_conf_t  *pmcf;

    if (plcf->admin) {
        return "is duplicate";
    }

    if (plcf->webhook || plcf->prefix.len) {
        return "cannot share a location with \"postmark_webhook\" or "
               "\"postmark_portal\"";
    }

    if (plcf->metrics) {
        return "cannot share a location with \"postmark_metrics\"";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (!ngx_http_postmark_prefix_location(clcf)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"postmark_spool_admin\" needs a prefix "
                           "location, such as \"location /postmark-admin/ "
                           "{ postmark_spool_admin file=...; }\"");
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_postmark_secret(cf, &value[1], &key) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (key.len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the key of \"postmark_spool_admin\" is too "
                           "short; use at least 16 characters, such as the "
                           "output of \"openssl rand -hex 16\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_postmark_credential(cf, NULL, NGX_HTTP_POSTMARK_ADMIN, &key,
                                     plcf->admin_hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(key.data, key.len);

    plcf->admin = 1;
    plcf->prefix = clcf->name;
    clcf->handler = ngx_http_postmark_admin_handler;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_postmark_module);
    pmcf->used = 1;
    pmcf->admin_file = cf->conf_file->file.name.data;
    pmcf->admin_line = cf->conf_file->line;

    return NGX_CONF_OK;
}
