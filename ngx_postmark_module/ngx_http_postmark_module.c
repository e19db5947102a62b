
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include "ngx_http_postmark_conf.h"
#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_retry.h"
#include "ngx_http_postmark_stats.h"


/* a location's client, found once the whole http block is read */

typedef struct {
    ngx_str_t                     name;
    ngx_http_postmark_client_t  **client;
    ngx_uint_t                    portal;       /* or the webhook receiver */
    u_char                       *file;
    ngx_uint_t                    line;
} ngx_http_postmark_ref_t;


static ngx_int_t ngx_http_postmark_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_postmark_init_process(ngx_cycle_t *cycle);
static char *ngx_http_postmark_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_postmark_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_postmark_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_postmark_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_postmark_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_postmark_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_postmark_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_portal(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_renamed(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_location(ngx_conf_t *cf,
    ngx_http_postmark_loc_conf_t *plcf, ngx_uint_t portal);
static char *ngx_http_postmark_api_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_check_timeout(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_postmark_check_api_timeout(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_post_t  ngx_http_postmark_timeout_post = {
    ngx_http_postmark_check_timeout
};

static ngx_conf_post_t  ngx_http_postmark_max_age_post = {
    ngx_http_postmark_check_max_age
};


static ngx_conf_post_t  ngx_http_postmark_api_timeout_post = {
    ngx_http_postmark_check_api_timeout
};


static ngx_command_t  ngx_http_postmark_commands[] = {

    { ngx_string("postmark_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_postmark_client_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_postmark_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_postmark_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_portal"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_portal,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_templates"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_postmark_renamed,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_api_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_api_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_api_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_postmark_loc_conf_t, api_timeout),
      &ngx_http_postmark_api_timeout_post },

    { ngx_string("postmark_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_postmark_spool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_spool_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_spool_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("postmark_templates_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_postmark_loc_conf_t, templates_max_body_size),
      NULL },

    /* inside "postmark_client" */

    { ngx_string("webhook_user"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_webhook_user,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("webhook_password"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_webhook_password,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("server_token"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_server_token,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portal_key"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_portal_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("templates"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_access,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("activity"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_client_t, activity),
      NULL },

    { ngx_string("portal_replay"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_client_t, portal_replay),
      NULL },

    { ngx_string("suppressions"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_client_t, suppressions),
      NULL },

    { ngx_string("forward"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_postmark_forward_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    /* inside "forward" */

    { ngx_string("events"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_1MORE,
      ngx_http_postmark_events,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("streams"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_1MORE,
      ngx_http_postmark_values,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_dest_t, filter.streams),
      NULL },

    { ngx_string("tags"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_1MORE,
      ngx_http_postmark_values,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_dest_t, filter.tags),
      NULL },

    { ngx_string("metadata"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_1MORE,
      ngx_http_postmark_metadata,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("header"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE2,
      ngx_http_postmark_header,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("name"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_forward_name,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("timeout"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_dest_t, timeout),
      &ngx_http_postmark_timeout_post },

    { ngx_string("signing_secret"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_signing_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("remove_fields"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_1MORE,
      ngx_http_postmark_remove_fields,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tls_trusted_certificate"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_tls_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_dest_t, ca),
      NULL },

    { ngx_string("tls_certificate"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_tls_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_dest_t, cert),
      NULL },

    { ngx_string("tls_certificate_key"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_tls_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_dest_t, cert_key),
      NULL },

    { ngx_string("tls_min_version"),
      NGX_HTTP_POSTMARK_FORWARD_CONF|NGX_CONF_TAKE1,
      ngx_http_postmark_tls_min_version,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("proxy"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_HTTP_POSTMARK_FORWARD_CONF
      |NGX_CONF_TAKE1,
      ngx_http_postmark_proxy,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("delivery"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_HTTP_POSTMARK_FORWARD_CONF
      |NGX_CONF_TAKE1,
      ngx_http_postmark_delivery,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("retry_max_age"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_HTTP_POSTMARK_FORWARD_CONF
      |NGX_CONF_TAKE1,
      ngx_http_postmark_policy_msec,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_postmark_policy_t, max_age),
      &ngx_http_postmark_max_age_post },

    { ngx_string("retry_backoff"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_HTTP_POSTMARK_FORWARD_CONF
      |NGX_CONF_TAKE2,
      ngx_http_postmark_retry_backoff,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("max_concurrent"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_HTTP_POSTMARK_FORWARD_CONF
      |NGX_CONF_TAKE1,
      ngx_http_postmark_max_concurrent,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("circuit_breaker"),
      NGX_HTTP_POSTMARK_CLIENT_CONF|NGX_HTTP_POSTMARK_FORWARD_CONF
      |NGX_CONF_TAKE12,
      ngx_http_postmark_circuit_breaker,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_postmark_module_ctx = {
    ngx_http_postmark_add_variables,       /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_postmark_create_main_conf,    /* create main configuration */
    ngx_http_postmark_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_postmark_create_loc_conf,     /* create location configuration */
    ngx_http_postmark_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_postmark_module = {
    NGX_MODULE_V1,
    &ngx_http_postmark_module_ctx,         /* module context */
    ngx_http_postmark_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_postmark_init_module,         /* init module */
    ngx_http_postmark_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_postmark_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_postmark_init_module(ngx_cycle_t *cycle)
{
    static ngx_uint_t        initialized;
    curl_version_info_data  *info;

    /* the configuration runs now: its zone is the one a reload carries */

    ngx_http_postmark_stats_commit(cycle);

    if (initialized) {
        return NGX_OK;
    }

    /* in the master, before any worker or thread exists */

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "postmark: curl_global_init() failed");
        return NGX_ERROR;
    }

    info = curl_version_info(CURLVERSION_NOW);

    if (!(info->features & CURL_VERSION_ASYNCHDNS)) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "postmark: libcurl %s resolves host names "
                      "synchronously, which would block nginx workers; "
                      "use a libcurl built with the threaded resolver "
                      "or c-ares", info->version);
        return NGX_ERROR;
    }

    initialized = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_postmark_init_process(ngx_cycle_t *cycle)
{
    ngx_http_postmark_main_conf_t  *pmcf;

    /*
     * The cache manager and loader run init_process too, without thread
     * pools and without requests: the module has nothing to do there.
     */

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_postmark_module);

    if (pmcf == NULL || !pmcf->used) {
        return NGX_OK;
    }

    ngx_http_postmark_stats_start(cycle);

    if (ngx_http_postmark_engine_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_postmark_exchange_init(cycle);

    if (ngx_http_postmark_retry_init(cycle) != NGX_OK
        || ngx_http_postmark_spool_init(cycle) != NGX_OK
        || ngx_http_postmark_scan_init(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* spooled deliveries stop first: transfers ended now are not failures */

static void
ngx_http_postmark_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_postmark_retry_exit(cycle);
    ngx_http_postmark_engine_done(cycle);
    ngx_http_postmark_scan_exit(cycle);
    ngx_http_postmark_spool_exit(cycle);
    ngx_http_postmark_stats_stop();
}


static void *
ngx_http_postmark_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_postmark_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     pmcf->used = 0;
     *     pmcf->spool = { 0, NULL };
     *     pmcf->thread_pool = NULL;
     *     pmcf->admin_file = NULL;
     */

    if (ngx_array_init(&pmcf->clients, cf->pool, 4,
                       sizeof(ngx_http_postmark_client_t *))
        != NGX_OK)
    {
        return NULL;
    }

    ngx_rbtree_init(&pmcf->names, &pmcf->names_sentinel,
                    ngx_str_rbtree_insert_value);

    if (ngx_array_init(&pmcf->refs, cf->pool, 4,
                       sizeof(ngx_http_postmark_ref_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&pmcf->spooled, cf->pool, 4,
                       sizeof(ngx_http_postmark_dest_t *))
        != NGX_OK)
    {
        return NULL;
    }

    pmcf->credentials = ngx_array_create(cf->temp_pool, 16,
                                      sizeof(ngx_http_postmark_credential_t));
    if (pmcf->credentials == NULL) {
        return NULL;
    }

    pmcf->spool_max_size = NGX_CONF_UNSET;

    return pmcf;
}


/* locations may name clients defined further down the file */

static char *
ngx_http_postmark_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_postmark_main_conf_t *pmcf = conf;

    ngx_uint_t                    i, j, webhooks;
    ngx_http_postmark_ref_t      *ref;
    ngx_http_postmark_client_t  **clients, *client;

    ref = pmcf->refs.elts;
    clients = pmcf->clients.elts;

    webhooks = 0;

    for (j = 0; j < pmcf->clients.nelts; j++) {
        if (clients[j]->has_password) {
            webhooks++;
        }
    }

    for (i = 0; i < pmcf->refs.nelts; i++) {

        if (ref[i].name.len == 0) {
            if (webhooks == 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"postmark_webhook\" is used, but no "
                              "\"postmark_client\" has \"webhook_user\" and "
                              "\"webhook_password\" in %s:%ui",
                              ref[i].file, ref[i].line);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        client = ngx_http_postmark_client_find(pmcf, &ref[i].name);

        if (client == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "unknown postmark client \"%V\"; define it with "
                          "\"postmark_client %V { ... }\" at http level "
                          "in %s:%ui",
                          &ref[i].name, &ref[i].name, ref[i].file,
                          ref[i].line);
            return NGX_CONF_ERROR;
        }

        if (ref[i].portal ? !client->has_portal_key
                             : !client->has_password)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "postmark client \"%V\" has no %s in %s:%ui",
                          &ref[i].name,
                          ref[i].portal
                          ? "\"server_token\" and \"portal_key\""
                          : "\"webhook_user\" and \"webhook_password\"",
                          ref[i].file, ref[i].line);
            return NGX_CONF_ERROR;
        }

        *ref[i].client = client;
    }

    /* large events are read in threads: the spool's pool, or "default" */

    for (i = 0; i < pmcf->refs.nelts; i++) {
        if (!ref[i].portal && pmcf->thread_pool == NULL) {
            pmcf->thread_pool = ngx_thread_pool_add(cf, NULL);
            if (pmcf->thread_pool == NULL) {
                return NGX_CONF_ERROR;
            }
        }
    }

    if (ngx_http_postmark_check_credentials(cf, pmcf) != NGX_CONF_OK
        || ngx_http_postmark_index_users(cf, pmcf) != NGX_CONF_OK
        || ngx_http_postmark_check_spooled(cf, pmcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_postmark_index_spooled(cf, pmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* what all workers count: a slot per client and destination */

    if (pmcf->clients.nelts == 0) {
        return NGX_CONF_OK;
    }

    return ngx_http_postmark_stats_zone(cf, pmcf);
}


static void *
ngx_http_postmark_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_postmark_loc_conf_t  *plcf;

    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_postmark_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     plcf->webhook = 0;
     *     plcf->webhook_client = NULL;
     *     plcf->portal_client = NULL;
     *     plcf->prefix = { 0, NULL };
     *     plcf->api_url = { 0, NULL };
     */

    plcf->api_timeout = NGX_CONF_UNSET_MSEC;
    plcf->templates_max_body_size = NGX_CONF_UNSET_SIZE;

    return plcf;
}


static char *
ngx_http_postmark_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_postmark_loc_conf_t *prev = parent;
    ngx_http_postmark_loc_conf_t *conf = child;

    ngx_conf_merge_str_value(conf->api_url, prev->api_url,
                             "https://api.postmarkapp.com");
    ngx_conf_merge_msec_value(conf->api_timeout, prev->api_timeout, 30000);
    ngx_conf_merge_size_value(conf->templates_max_body_size,
                              prev->templates_max_body_size, 512 * 1024);

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_postmark_location(cf, conf, 0);
}


static char *
ngx_http_postmark_portal(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_http_postmark_location(cf, conf, 1);
}


/* a location serves what all workers counted, in Prometheus's format */

static char *
ngx_http_postmark_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_loc_conf_t *plcf = conf;

    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_postmark_main_conf_t  *pmcf;

    if (plcf->metrics) {
        return "is duplicate";
    }

    if (plcf->webhook || plcf->prefix.len || plcf->admin) {
        return "cannot share a location with \"postmark_webhook\", "
               "\"postmark_portal\" or \"postmark_spool_admin\"; give "
               "it a location of its own";
    }

    plcf->metrics = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_postmark_metrics_handler;

    /* the workers must find the zone: they start as for any location */

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_postmark_module);
    pmcf->used = 1;

    return NGX_CONF_OK;
}


/* one way of binding a portal: the old name says what to write */

static char *
ngx_http_postmark_renamed(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"postmark_templates\" is now \"postmark_portal\", "
                       "which serves the client's templates and activity: "
                       "write \"postmark_portal %V;\"",
                       cf->args->nelts > 1 ? &value[1]
                                           : (ngx_str_t *) &value[0]);
    return NGX_CONF_ERROR;
}


/* a location becomes a webhook receiver or a client's portal API */

static char *
ngx_http_postmark_location(ngx_conf_t *cf, ngx_http_postmark_loc_conf_t *plcf,
    ngx_uint_t portal)
{
    ngx_str_t                      *value;
    ngx_http_postmark_ref_t        *ref;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_postmark_main_conf_t  *pmcf;

    if (plcf->admin) {
        return "cannot share a location with \"postmark_spool_admin\"";
    }

    if (plcf->metrics) {
        return "cannot share a location with \"postmark_metrics\"";
    }

    if (plcf->webhook || plcf->prefix.len) {
        return (plcf->webhook != portal) ? "is duplicate"
               : "cannot share a location with the other of "
                 "\"postmark_webhook\" and \"postmark_portal\"";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (portal) {

        /* the part of the URI after the prefix is the Postmark path */

        if (!ngx_http_postmark_prefix_location(clcf)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"postmark_portal\" needs a prefix "
                               "location, such as \"location "
                               "/portal/acme/postmark/ { postmark_portal "
                               "acme; }\"");
            return NGX_CONF_ERROR;
        }

        plcf->prefix = clcf->name;
        clcf->handler = ngx_http_postmark_portal_handler;

    } else {
        plcf->webhook = 1;
        clcf->handler = ngx_http_postmark_webhook_handler;
    }

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_postmark_module);
    pmcf->used = 1;

    ref = ngx_array_push(&pmcf->refs);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    ngx_str_null(&ref->name);

    if (cf->args->nelts == 2) {
        if (ngx_http_postmark_is_name(&value[1]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid postmark client name \"%V\"",
                               ngx_http_postmark_quote(cf, &value[1]));
            return NGX_CONF_ERROR;
        }

        ref->name = value[1];
    }

    ref->portal = portal;
    ref->client = portal ? &plcf->portal_client : &plcf->webhook_client;
    ref->file = cf->conf_file->file.name.data;
    ref->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_api_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_loc_conf_t *plcf = conf;

    char       *rv;
    ngx_str_t  *value, display;

    if (plcf->api_url.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rv = ngx_http_postmark_parse_url(cf, &value[1], &display,
                                     "Postmark API URL",
                                     "postmark_api_url "
                                     "https://api.postmarkapp.com;");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* API paths are appended as they are: nothing may follow the path */

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '?')
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '@'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Postmark API URL \"%V\": it may not have "
                           "a query or credentials", &value[1]);
        return NGX_CONF_ERROR;
    }

    plcf->api_url = value[1];

    while (plcf->api_url.data[plcf->api_url.len - 1] == '/') {
        plcf->api_url.len--;
    }

    return NGX_CONF_OK;
}


/* Postmark waits two minutes for an answer, and retries after that */

static char *
ngx_http_postmark_check_timeout(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms == 0 || *ms > 110000) {
        return "must be between 1ms and 110s, "
               "as Postmark waits 2 minutes for an answer";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_check_api_timeout(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms == 0 || *ms > 600000) {
        return "must be between 1ms and 10m";
    }

    return NGX_CONF_OK;
}
