
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include "ngx_http_postmark_module.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


#define NGX_HTTP_POSTMARK_SECRET_MAX  4096
#define NGX_HTTP_POSTMARK_PEM_MAX     (1024 * 1024)


/* a location's client, found once the whole http block is read */

typedef struct {
    ngx_str_t                     name;
    ngx_http_postmark_client_t  **client;
    ngx_uint_t                    portal;       /* or the webhook receiver */
    u_char                       *file;
    ngx_uint_t                    line;
} ngx_http_postmark_ref_t;


/*
 * The digest of a credential of a client, kept while the configuration is
 * read, to find credentials that must not be shared: webhook users decide
 * the client, and a portal key must open one client's portal only.
 */

#define NGX_HTTP_POSTMARK_USER       0
#define NGX_HTTP_POSTMARK_PASSWORD   1
#define NGX_HTTP_POSTMARK_TOKEN      2
#define NGX_HTTP_POSTMARK_PORTAL     3
#define NGX_HTTP_POSTMARK_SIGNING    4
#define NGX_HTTP_POSTMARK_ADMIN      5

typedef struct {
    u_char                        hash[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_uint_t                    kind;
    ngx_uint_t                    order;
    ngx_http_postmark_client_t   *client;       /* NULL: the admin key */
    u_char                       *file;
    ngx_uint_t                    line;
} ngx_http_postmark_credential_t;


static ngx_int_t ngx_http_postmark_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_postmark_init_process(ngx_cycle_t *cycle);
static void ngx_http_postmark_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_postmark_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_postmark_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_postmark_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_postmark_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_http_postmark_client_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_client_check(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client);
static char *ngx_http_postmark_webhook_user(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_webhook_password(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_forward_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_parse_url(ngx_conf_t *cf, ngx_str_t *url,
    ngx_str_t *display, char *what, char *example);
static char *ngx_http_postmark_events(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_values(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_metadata(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_signing_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_remove_fields(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_tls_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_tls_min_version(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_proxy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_http_postmark_policy_t *ngx_http_postmark_policy_conf(
    ngx_conf_t *cf, void *conf);
static void ngx_http_postmark_policy_init(ngx_http_postmark_policy_t *policy);
static void ngx_http_postmark_policy_merge(ngx_http_postmark_policy_t *conf,
    ngx_http_postmark_policy_t *prev);
static char *ngx_http_postmark_delivery(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_policy_msec(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_max_concurrent(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_retry_backoff(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_circuit_breaker(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_policy_check(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest, ngx_http_postmark_policy_t *own);
static char *ngx_http_postmark_spool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_spool_path(ngx_conf_t *cf, ngx_str_t *name);
static char *ngx_http_postmark_spool_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_check_spooled(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
static char *ngx_http_postmark_forward_check(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest);
static char *ngx_http_postmark_curl_check(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest);
static char *ngx_http_postmark_server_token(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_postmark_portal_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_access(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_postmark_portal_check(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client, ngx_uint_t token);
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
static char *ngx_http_postmark_check_api_timeout(ngx_conf_t *cf, void *post,
    void *data);

static char *ngx_http_postmark_parse_block(ngx_conf_t *cf, void *conf,
    ngx_uint_t type);
static char *ngx_http_postmark_check_max_age(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_postmark_check_timeout(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_postmark_secret(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *secret);
static ngx_int_t ngx_http_postmark_credential(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client, ngx_uint_t kind, ngx_str_t *value,
    u_char *hash);
static ngx_int_t ngx_http_postmark_digest(EVP_MD_CTX *ctx, const EVP_MD *md,
    u_char *out, ngx_str_t *parts, ngx_uint_t n);
static char *ngx_http_postmark_forward_head(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest);
static ngx_int_t ngx_http_postmark_url_creds(ngx_conf_t *cf, CURLU *u,
    ngx_str_t *creds);
static char *ngx_http_postmark_index_users(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
static int ngx_libc_cdecl ngx_http_postmark_user_cmp(const void *one,
    const void *two);
static char *ngx_http_postmark_index_spooled(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
static int ngx_libc_cdecl ngx_http_postmark_spooled_cmp(const void *one,
    const void *two);
static char *ngx_http_postmark_check_credentials(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
static char *ngx_http_postmark_credential_clash(ngx_conf_t *cf,
    ngx_http_postmark_credential_t *a, ngx_http_postmark_credential_t *b);
static int ngx_libc_cdecl ngx_http_postmark_credential_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_postmark_read_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, char *what, ngx_uint_t secret, ngx_str_t *out);
static ngx_int_t ngx_http_postmark_is_text(ngx_str_t *s);
static ngx_str_t *ngx_http_postmark_quote(ngx_conf_t *cf, ngx_str_t *s);
static ngx_int_t ngx_http_postmark_is_name(ngx_str_t *s);


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


/* headers the module writes itself, or that would break the request */

static ngx_str_t  ngx_http_postmark_reserved_headers[] = {
    ngx_string("Host"),
    ngx_string("Content-Length"),
    ngx_string("Content-Type"),
    ngx_string("Transfer-Encoding"),
    ngx_string("Connection"),
    ngx_string("Keep-Alive"),
    ngx_string("Proxy-Connection"),
    ngx_string("Upgrade"),
    ngx_string("TE"),
    ngx_string("Trailer"),
    ngx_string("Expect"),
    ngx_string("webhook-id"),
    ngx_string("webhook-timestamp"),
    ngx_string("webhook-signature"),
    ngx_null_string
};


static ngx_int_t
ngx_http_postmark_init_module(ngx_cycle_t *cycle)
{
    static ngx_uint_t        initialized;
    curl_version_info_data  *info;

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

    if (ngx_http_postmark_engine_init(cycle) != NGX_OK
        || ngx_http_postmark_retry_init(cycle) != NGX_OK
        || ngx_http_postmark_spool_init(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What nginx's debug log reads of an event's "connection": only its fd,
 * the fourth pointer (nginx's own cache manager does the same).
 */

static void  *ngx_http_postmark_ident[4] = {
    NULL, NULL, NULL, (void *) (ngx_socket_t) -1
};


/* a timer of the module's own, found in its handler by its member */

void
ngx_http_postmark_timer_init(ngx_event_t *ev, ngx_event_handler_pt handler,
    ngx_log_t *log)
{
    ev->handler = handler;
    ev->data = ngx_http_postmark_ident;
    ev->log = log;
    ev->cancelable = 1;
}


void
ngx_http_postmark_timer_stop(ngx_event_t *ev)
{
    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (ev->posted) {
        ngx_delete_posted_event(ev);
    }
}


/* spooled deliveries stop first: transfers ended now are not failures */

static void
ngx_http_postmark_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_postmark_retry_exit(cycle);
    ngx_http_postmark_engine_done(cycle);
    ngx_http_postmark_spool_exit(cycle);
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

    return ngx_http_postmark_index_spooled(cf, pmcf);
}


ngx_http_postmark_client_t *
ngx_http_postmark_client_find(ngx_http_postmark_main_conf_t *pmcf,
    ngx_str_t *name)
{
    ngx_str_node_t  *node;

    node = ngx_str_rbtree_lookup(&pmcf->names, name,
                                 ngx_crc32_short(name->data, name->len));

    return node ? (ngx_http_postmark_client_t *)
                  ((u_char *) node - offsetof(ngx_http_postmark_client_t,
                                              node))
                : NULL;
}


/*
 * The clients with webhook credentials, sorted by their user's digest:
 * a request finds its client in log2(n) steps, whatever n is.
 */

static char *
ngx_http_postmark_index_users(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf)
{
    ngx_uint_t                    i;
    ngx_http_postmark_client_t  **clients, **slot;

    if (ngx_array_init(&pmcf->users, cf->pool, pmcf->clients.nelts + 1,
                       sizeof(ngx_http_postmark_client_t *))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    clients = pmcf->clients.elts;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        if (clients[i]->has_password) {
            slot = ngx_array_push(&pmcf->users);
            if (slot == NULL) {
                return NGX_CONF_ERROR;
            }

            *slot = clients[i];
        }
    }

    ngx_qsort(pmcf->users.elts, pmcf->users.nelts,
              sizeof(ngx_http_postmark_client_t *),
              ngx_http_postmark_user_cmp);

    return NGX_CONF_OK;
}


static int ngx_libc_cdecl
ngx_http_postmark_user_cmp(const void *one, const void *two)
{
    ngx_http_postmark_client_t *const  *a = one;
    ngx_http_postmark_client_t *const  *b = two;

    return ngx_memcmp((*a)->user_hash, (*b)->user_hash,
                      NGX_HTTP_POSTMARK_HASH_LEN);
}


/* spooled destinations sorted by client and URL, as records name them */

static char *
ngx_http_postmark_index_spooled(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf)
{
    ngx_http_postmark_dest_t  **slot;

    if (ngx_array_init(&pmcf->spooled_by_name, cf->pool,
                       pmcf->spooled.nelts + 1,
                       sizeof(ngx_http_postmark_dest_t *))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    slot = ngx_array_push_n(&pmcf->spooled_by_name, pmcf->spooled.nelts);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(slot, pmcf->spooled.elts,
               pmcf->spooled.nelts * sizeof(ngx_http_postmark_dest_t *));

    ngx_qsort(slot, pmcf->spooled.nelts, sizeof(ngx_http_postmark_dest_t *),
              ngx_http_postmark_spooled_cmp);

    return NGX_CONF_OK;
}


static int ngx_libc_cdecl
ngx_http_postmark_spooled_cmp(const void *one, const void *two)
{
    ngx_http_postmark_dest_t *const  *a = one;
    ngx_http_postmark_dest_t *const  *b = two;

    ngx_int_t  rc;

    rc = ngx_memn2cmp((*a)->client->name.data, (*b)->client->name.data,
                      (*a)->client->name.len, (*b)->client->name.len);

    return rc ? (int) rc
              : (int) ngx_memn2cmp((*a)->display.data, (*b)->display.data,
                                   (*a)->display.len, (*b)->display.len);
}


/*
 * Equal credentials are found by sorting their digests: linear enough for
 * thousands of clients, where comparing every pair would not be.
 */

static char *
ngx_http_postmark_check_credentials(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf)
{
    ngx_uint_t                       i, j, n;
    ngx_http_postmark_credential_t  *c, *a, *b;

    c = pmcf->credentials->elts;
    n = pmcf->credentials->nelts;

    ngx_qsort(c, n, sizeof(ngx_http_postmark_credential_t),
              ngx_http_postmark_credential_cmp);

    for (i = 0; i < n; i = j) {

        for (j = i + 1;
             j < n && ngx_memcmp(c[i].hash, c[j].hash,
                                 NGX_HTTP_POSTMARK_HASH_LEN) == 0;
             j++)
        { /* void */ }

        /* a run of equal digests, in the order they were written */

        for (a = &c[i]; a < &c[j]; a++) {
            for (b = a + 1; b < &c[j]; b++) {
                if (ngx_http_postmark_credential_clash(cf, a, b)
                    != NGX_CONF_OK)
                {
                    return NGX_CONF_ERROR;
                }
            }
        }
    }

    return NGX_CONF_OK;
}


/* "a" was written before "b"; both have the same digest */

static char *
ngx_http_postmark_credential_clash(ngx_conf_t *cf,
    ngx_http_postmark_credential_t *a, ngx_http_postmark_credential_t *b)
{
    ngx_http_postmark_credential_t  *portal, *other;

    static const char  *names[] = {
        "webhook_user", "webhook_password", "server_token", "portal_key",
        "signing_secret", "key of \"postmark_spool_admin\""
    };

    if (a->kind == NGX_HTTP_POSTMARK_USER && b->kind == NGX_HTTP_POSTMARK_USER)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "postmark client \"%V\" has the same \"webhook_user\" "
                      "as client \"%V\" (%s:%ui); each client needs its own "
                      "in %s:%ui", &b->client->name, &a->client->name,
                      a->file, a->line, b->file, b->line);
        return NGX_CONF_ERROR;
    }

    /* user names are no secrets; other secrets may be alike, but for one */

    if (a->kind == NGX_HTTP_POSTMARK_USER || b->kind == NGX_HTTP_POSTMARK_USER
        || (a->kind != NGX_HTTP_POSTMARK_PORTAL
            && b->kind != NGX_HTTP_POSTMARK_PORTAL))
    {
        return NGX_CONF_OK;
    }

    if (a->kind == NGX_HTTP_POSTMARK_PORTAL
        && b->kind == NGX_HTTP_POSTMARK_PORTAL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "postmark client \"%V\" has the same \"portal_key\" "
                      "as client \"%V\" (%s:%ui); each client needs its own "
                      "in %s:%ui", &b->client->name, &a->client->name,
                      a->file, a->line, b->file, b->line);
        return NGX_CONF_ERROR;
    }

    portal = (b->kind == NGX_HTTP_POSTMARK_PORTAL) ? b : a;
    other = (portal == b) ? a : b;

    if (other->client == portal->client
        && other->kind == NGX_HTTP_POSTMARK_TOKEN)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"portal_key\" of postmark client \"%V\" is its "
                      "server token; the portal key must be a secret of its "
                      "own in %s:%ui", &portal->client->name, portal->file,
                      portal->line);
        return NGX_CONF_ERROR;
    }

    if (other->client == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"portal_key\" of postmark client \"%V\" is the %s "
                      "(%s:%ui); the portal key must be a secret of its own "
                      "in %s:%ui", &portal->client->name, names[other->kind],
                      other->file, other->line, portal->file, portal->line);
        return NGX_CONF_ERROR;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"portal_key\" of postmark client \"%V\" is the \"%s\" "
                  "of client \"%V\" (%s:%ui); the portal key must be a "
                  "secret of its own in %s:%ui", &portal->client->name,
                  names[other->kind], &other->client->name, other->file,
                  other->line, portal->file, portal->line);

    return NGX_CONF_ERROR;
}


static int ngx_libc_cdecl
ngx_http_postmark_credential_cmp(const void *one, const void *two)
{
    const ngx_http_postmark_credential_t *a = one;
    const ngx_http_postmark_credential_t *b = two;

    int  rc;

    rc = ngx_memcmp(a->hash, b->hash, NGX_HTTP_POSTMARK_HASH_LEN);

    if (rc != 0) {
        return rc;
    }

    return (a->order > b->order) - (a->order < b->order);
}


/*
 * Keeps the digest of a credential for the checks above; "hash", if not
 * NULL, gets it too.
 */

static ngx_int_t
ngx_http_postmark_credential(ngx_conf_t *cf, ngx_http_postmark_client_t *client,
    ngx_uint_t kind, ngx_str_t *value, u_char *hash)
{
    ngx_http_postmark_credential_t  *c;
    ngx_http_postmark_main_conf_t   *pmcf;

    /* inside client blocks, the context's main_conf is the block's own */

    pmcf = ngx_http_cycle_get_module_main_conf(cf->cycle,
                                               ngx_http_postmark_module);

    c = ngx_array_push(pmcf->credentials);
    if (c == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_postmark_hash(c->hash, value, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    c->kind = kind;
    c->order = pmcf->credentials->nelts;
    c->client = client;
    c->file = cf->conf_file->file.name.data;
    c->line = cf->conf_file->line;

    if (hash) {
        ngx_memcpy(hash, c->hash, NGX_HTTP_POSTMARK_HASH_LEN);
    }

    return NGX_OK;
}


/*
 * Spooled destinations need the spool, and are told apart in it by their
 * client and URL; each gets the index of its outbox.
 */

static char *
ngx_http_postmark_check_spooled(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf)
{
    ngx_uint_t                    i, j, k;
    ngx_http_postmark_dest_t     *dest, **slot;
    ngx_http_postmark_client_t  **clients;

    if (pmcf->admin_file && pmcf->spool.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"postmark_spool_admin\" needs a spool; add "
                      "\"postmark_spool /var/lib/nginx/postmark "
                      "max_size=1g;\" at http level in %s:%ui",
                      pmcf->admin_file, pmcf->admin_line);
        return NGX_CONF_ERROR;
    }

    clients = pmcf->clients.elts;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        dest = clients[i]->dests.elts;

        for (j = 0; j < clients[i]->dests.nelts; j++) {
            if (dest[j].policy.delivery != NGX_HTTP_POSTMARK_SPOOLED) {
                continue;
            }

            if (pmcf->spool.len == 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "forward \"%V\" of postmark client \"%V\" is "
                              "spooled, but there is no spool; add "
                              "\"postmark_spool /var/lib/nginx/postmark "
                              "max_size=1g;\" at http level in %s:%ui",
                              &dest[j].display, &clients[i]->name,
                              dest[j].file, dest[j].line);
                return NGX_CONF_ERROR;
            }

            for (k = 0; k < j; k++) {
                if (dest[k].policy.delivery == NGX_HTTP_POSTMARK_SPOOLED
                    && dest[k].display.len == dest[j].display.len
                    && ngx_strncmp(dest[k].display.data, dest[j].display.data,
                                   dest[j].display.len)
                       == 0)
                {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "spooled forwards of postmark client "
                                  "\"%V\" to \"%V\" differ only in "
                                  "credentials or query, which the spool "
                                  "does not keep; give them different "
                                  "paths in %s:%ui", &clients[i]->name,
                                  &dest[j].display, dest[j].file,
                                  dest[j].line);
                    return NGX_CONF_ERROR;
                }
            }

            dest[j].index = pmcf->spooled.nelts;

            slot = ngx_array_push(&pmcf->spooled);
            if (slot == NULL) {
                return NGX_CONF_ERROR;
            }

            *slot = &dest[j];
        }
    }

    if (pmcf->spool.len) {
        if (pmcf->spool_max_size == NGX_CONF_UNSET) {
            pmcf->spool_max_size = 1024 * 1024 * 1024;
        }
        pmcf->used = 1;
    }

    return NGX_CONF_OK;
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
ngx_http_postmark_client_block(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_main_conf_t *pmcf = conf;

    char                         *rv;
    ngx_str_t                    *value;
    ngx_http_postmark_client_t   *client, *first, **slot;

    value = cf->args->elts;

    if (ngx_http_postmark_is_name(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid postmark client name \"%V\"; use up to "
                           "64 letters, digits, \".\", \"-\" and \"_\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    first = ngx_http_postmark_client_find(pmcf, &value[1]);

    if (first) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate postmark client \"%V\", first "
                           "defined in %s:%ui; give each client its own "
                           "name", &value[1], first->file, first->line);
        return NGX_CONF_ERROR;
    }

    client = ngx_pcalloc(cf->pool, sizeof(ngx_http_postmark_client_t));
    if (client == NULL) {
        return NGX_CONF_ERROR;
    }

    client->name = value[1];
    client->node.str = client->name;
    client->node.node.key = ngx_crc32_short(client->name.data,
                                            client->name.len);
    ngx_rbtree_insert(&pmcf->names, &client->node.node);

    client->file = cf->conf_file->file.name.data;
    client->line = cf->conf_file->line;
    client->scope.templates = NGX_CONF_UNSET;
    client->activity = NGX_CONF_UNSET;
    client->suppressions = NGX_CONF_UNSET;
    ngx_http_postmark_policy_init(&client->policy);

    if (ngx_array_init(&client->dests, cf->pool, 2,
                       sizeof(ngx_http_postmark_dest_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_postmark_parse_block(cf, client,
                                       NGX_HTTP_POSTMARK_CLIENT_CONF);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rv = ngx_http_postmark_client_check(cf, client);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    slot = ngx_array_push(&pmcf->clients);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = client;

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_client_check(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client)
{
    ngx_uint_t                   i, token;
    ngx_http_postmark_policy_t   own;
    ngx_http_postmark_dest_t    *dest;

    token = (client->api_headers != NULL);

    if (client->webhook_user.len == 0 && !client->has_password
        && client->dests.nelts == 0 && !token && !client->has_portal_key)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "postmark client \"%V\" has nothing to do; give "
                           "it \"webhook_user\", \"webhook_password\" and "
                           "a \"forward\", or \"server_token\" and "
                           "\"portal_key\"", &client->name);
        return NGX_CONF_ERROR;
    }

    if (client->webhook_user.len && !client->has_password) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "postmark client \"%V\" has \"webhook_user\" but "
                           "no \"webhook_password\"", &client->name);
        return NGX_CONF_ERROR;
    }

    if (client->has_password && client->webhook_user.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "postmark client \"%V\" has \"webhook_password\" "
                           "but no \"webhook_user\"", &client->name);
        return NGX_CONF_ERROR;
    }

    if (client->has_password && client->dests.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "postmark client \"%V\" has webhook credentials "
                           "but no destination; add "
                           "\"forward https://... { ... }\"", &client->name);
        return NGX_CONF_ERROR;
    }

    if (!client->has_password && client->dests.nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "postmark client \"%V\" has \"forward\" "
                           "destinations but no webhook credentials; add "
                           "\"webhook_user\" and \"webhook_password\"",
                           &client->name);
        return NGX_CONF_ERROR;
    }

    if (token != client->has_portal_key) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "postmark client \"%V\" has \"%s\" but no "
                           "\"%s\"; its portal needs both",
                           &client->name,
                           token ? "server_token" : "portal_key",
                           token ? "portal_key" : "server_token");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_postmark_portal_check(cf, client, token) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    dest = client->dests.elts;

    for (i = 0; i < client->dests.nelts; i++) {
        if (dest[i].proxy.len == 0) {
            dest[i].proxy = client->proxy;
            dest[i].proxy_display = client->proxy_display;
        }

        if (ngx_http_postmark_forward_head(cf, &dest[i]) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        own = dest[i].policy;

        ngx_http_postmark_policy_merge(&dest[i].policy, &client->policy);

        if (ngx_http_postmark_policy_check(cf, &dest[i], &own)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        /* a direct forward's cap is its fair share of the worker's */

        ngx_http_postmark_lane_init(&dest[i].lane,
                                    dest[i].policy.delivery
                                    == NGX_HTTP_POSTMARK_SPOOLED
                                    ? dest[i].policy.max_concurrent : 0);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_webhook_user(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_client_t *client = conf;

    ngx_str_t  *value, user;

    if (client->webhook_user.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_postmark_secret(cf, &value[1], &user) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* HTTP Basic credentials end the user name at the first colon */

    if (ngx_strlchr(user.data, user.data + user.len, ':') != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"webhook_user\" of postmark client \"%V\" "
                           "contains \":\", which HTTP Basic "
                           "authentication does not allow in a user name",
                           &client->name);
        return NGX_CONF_ERROR;
    }

    client->webhook_user = user;

    if (ngx_http_postmark_credential(cf, client, NGX_HTTP_POSTMARK_USER, &user,
                                     client->user_hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_webhook_password(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_client_t *client = conf;

    ngx_str_t  *value, password;

    if (client->has_password) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_postmark_secret(cf, &value[1], &password) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* only a digest is kept, compared in constant time */

    if (ngx_http_postmark_credential(cf, client, NGX_HTTP_POSTMARK_PASSWORD,
                                     &password, client->password_hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(password.data, password.len);

    client->has_password = 1;

    return NGX_CONF_OK;
}


/*
 * The request headers of every call to Postmark for this client, built
 * once: the real token lives only here, never in a log or an answer.
 * Content-Type comes first, so that calls without a body skip it.
 */

static char *
ngx_http_postmark_server_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_client_t *client = conf;

    u_char     *line;
    ngx_str_t  *value, token;

    if (client->api_headers) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_postmark_secret(cf, &value[1], &token) != NGX_OK
        || ngx_http_postmark_credential(cf, client, NGX_HTTP_POSTMARK_TOKEN,
                                        &token, NULL)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    line = ngx_pnalloc(cf->pool, sizeof("X-Postmark-Server-Token: ")
                                 + token.len);
    if (line == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(line, "X-Postmark-Server-Token: %V%Z", &token);

    if (ngx_http_postmark_header_list(cf->pool, &client->api_headers,
                                      (char *) line)
           != NGX_OK
        || ngx_http_postmark_header_list(cf->pool, &client->api_headers,
                                         "Expect:")
           != NGX_OK
        || ngx_http_postmark_header_list(cf->pool, &client->api_headers,
                                         "User-Agent: "
                                         NGX_HTTP_POSTMARK_USER_AGENT)
           != NGX_OK
        || ngx_http_postmark_header_list(cf->pool, &client->api_headers,
                                         "Accept: application/json")
           != NGX_OK
        || ngx_http_postmark_header_list(cf->pool, &client->api_headers,
                                         "Content-Type: application/json")
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_portal_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_client_t *client = conf;

    ngx_str_t  *value, key;

    if (client->has_portal_key) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_postmark_secret(cf, &value[1], &key) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* a portal can guess as fast as it can send requests */

    if (key.len < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the \"portal_key\" of postmark client \"%V\" is "
                           "too short; use at least 16 characters, such as "
                           "the output of \"openssl rand -hex 16\"",
                           &client->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_postmark_credential(cf, client, NGX_HTTP_POSTMARK_PORTAL,
                                     &key, client->portal_key_hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(key.data, key.len);

    client->has_portal_key = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_access(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_client_t *client = conf;

    ngx_str_t  *value;

    if (client->scope.templates != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "full") == 0) {
        client->scope.templates = NGX_HTTP_POSTMARK_FULL;

    } else if (ngx_strcmp(value[1].data, "read-only") == 0) {
        client->scope.templates = NGX_HTTP_POSTMARK_READ_ONLY;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        client->scope.templates = NGX_HTTP_POSTMARK_TEMPLATES_OFF;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"; write \"templates full;\", "
                           "\"templates read-only;\" or \"templates off;\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * What the client's portal reaches: its templates (read-only unless said
 * otherwise), and its activity and its suppressions when turned on.
 */

static char *
ngx_http_postmark_portal_check(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client, ngx_uint_t token)
{
    const char  *set;

    set = (client->scope.templates != NGX_CONF_UNSET) ? "templates"
          : (client->activity != NGX_CONF_UNSET) ? "activity"
          : (client->suppressions != NGX_CONF_UNSET) ? "suppressions" : NULL;

    if (set && !token) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" of postmark client \"%V\" needs "
                           "\"server_token\" and \"portal_key\"", set,
                           &client->name);
        return NGX_CONF_ERROR;
    }

    if (client->suppressions == 1 && client->activity != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"suppressions on\" of postmark client \"%V\" "
                           "needs \"activity on;\"", &client->name);
        return NGX_CONF_ERROR;
    }

    if (client->scope.templates == NGX_CONF_UNSET) {
        client->scope.templates = NGX_HTTP_POSTMARK_READ_ONLY;
    }

    client->scope.activity = (client->activity == 1);
    client->scope.suppressions = (client->suppressions == 1);

    if (token && client->scope.templates == NGX_HTTP_POSTMARK_TEMPLATES_OFF
        && !client->scope.activity)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the portal of postmark client \"%V\" serves "
                           "nothing: it has \"templates off;\" and no "
                           "\"activity on;\"", &client->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_forward_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_client_t *client = conf;

    char                      *rv;
    ngx_str_t                 *value;
    ngx_http_postmark_dest_t  *dest;

    value = cf->args->elts;

    dest = ngx_array_push(&client->dests);
    if (dest == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(dest, sizeof(ngx_http_postmark_dest_t));

    dest->client = client;
    dest->timeout = NGX_CONF_UNSET_MSEC;
    dest->file = cf->conf_file->file.name.data;
    dest->line = cf->conf_file->line;
    ngx_http_postmark_policy_init(&dest->policy);

    rv = ngx_http_postmark_parse_url(cf, &value[1], &dest->display,
                                     "forward URL",
                                     "forward https://host/path { ... }");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    dest->url = value[1];

    rv = ngx_http_postmark_parse_block(cf, dest,
                                       NGX_HTTP_POSTMARK_FORWARD_CONF);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rv = ngx_http_postmark_forward_check(cf, dest);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    ngx_conf_init_msec_value(dest->timeout, 10000);

    /*
     * Built once, from configuration memory: a forward only puts its own
     * "webhook-id" in front.  An empty "Expect:" keeps curl from waiting
     * for "100 Continue" before sending larger bodies.
     */

    if (ngx_http_postmark_header_list(cf->pool, &dest->headers, "Expect:")
           != NGX_OK
        || ngx_http_postmark_header_list(cf->pool, &dest->headers,
                                         "User-Agent: "
                                         NGX_HTTP_POSTMARK_USER_AGENT)
           != NGX_OK
        || ngx_http_postmark_header_list(cf->pool, &dest->headers,
                                         "Content-Type: application/json")
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * An http:// or https:// URL with a host, checked when the configuration
 * is loaded; "display" is what logs show of it: neither credentials nor a
 * query string.
 */

static char *
ngx_http_postmark_parse_url(ngx_conf_t *cf, ngx_str_t *url,
    ngx_str_t *display, char *what, char *example)
{
    char       *rv, *scheme, *host, *port, *path, *fragment;
    CURLU      *u;
    size_t      len;
    CURLUcode   uc;

    scheme = NULL;
    host = NULL;
    port = NULL;
    path = NULL;
    fragment = NULL;
    rv = NGX_CONF_ERROR;

    if (ngx_http_postmark_is_text(url) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s: it contains a control character",
                           what);
        return NGX_CONF_ERROR;
    }

    /* curl would read "http:///x" or "http:/x" as "http://x/" */

    if (!((url->len > sizeof("http://") - 1
           && ngx_strncasecmp(url->data, (u_char *) "http://",
                              sizeof("http://") - 1) == 0
           && url->data[sizeof("http://") - 1] != '/')
          || (url->len > sizeof("https://") - 1
              && ngx_strncasecmp(url->data, (u_char *) "https://",
                                 sizeof("https://") - 1) == 0
              && url->data[sizeof("https://") - 1] != '/')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s \"%V\": write \"%s\"; only "
                           "\"http://\" and \"https://\" are supported",
                           what, url, example);
        return NGX_CONF_ERROR;
    }

    u = curl_url();
    if (u == NULL) {
        return NGX_CONF_ERROR;
    }

    uc = curl_url_set(u, CURLUPART_URL, (char *) url->data, 0);

    if (uc != CURLUE_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s \"%V\": %s; write \"%s\"",
                           what, url, curl_url_strerror(uc), example);
        goto done;
    }

    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0);

    if (host == NULL || host[0] == '\0') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s \"%V\": no host", what, url);
        goto done;
    }

    if (fragment) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid %s \"%V\": a \"#fragment\" is never "
                           "sent; remove it", what, url);
        goto done;
    }

    len = ngx_strlen(scheme) + sizeof("://") - 1 + ngx_strlen(host)
          + (port ? 1 + ngx_strlen(port) : 0) + ngx_strlen(path);

    /* NUL-terminated too: the spool's status hands it to cJSON */

    display->data = ngx_pnalloc(cf->pool, len + 1);
    if (display->data == NULL) {
        goto done;
    }

    display->len = ngx_sprintf(display->data, "%s://%s%s%s%s%Z", scheme, host,
                               port ? ":" : "", port ? port : "", path)
                   - display->data - 1;

    rv = NGX_CONF_OK;

done:

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(fragment);
    curl_url_cleanup(u);

    return rv;
}


/*
 * What every forward to a destination starts with, built once: the request
 * line (in absolute form to an http:// destination through a proxy, which
 * is then spoken to directly), Host, the credentials of the URL and of the
 * proxy as Basic authorization, and the destination's headers.  A forward
 * adds its own lines and the blank line.
 */

static char *
ngx_http_postmark_forward_head(ngx_conf_t *cf, ngx_http_postmark_dest_t *dest)
{
    char                *rv, *part[6];
    u_char              *p;
    CURLU               *u;
    size_t               len;
    ngx_str_t            creds[2], b64[2];
    ngx_uint_t           i, absolute, n, own_auth, uas, reported;
    struct curl_slist   *h;

    enum { scheme = 0, host, port, path, query, user };

    rv = NGX_CONF_ERROR;
    own_auth = 0;
    uas = 0;
    reported = 0;
    ngx_memzero(part, sizeof(part));
    ngx_memzero(b64, sizeof(b64));
    creds[0].len = 0;
    creds[1].len = 0;

    u = curl_url();
    if (u == NULL
        || curl_url_set(u, CURLUPART_URL, (char *) dest->url.data, 0)
           != CURLUE_OK)
    {
        goto done;
    }

    /* a name beyond ASCII goes in Host as DNS knows it */

    curl_url_get(u, CURLUPART_SCHEME, &part[scheme], 0);
    curl_url_get(u, CURLUPART_HOST, &part[host], CURLU_PUNYCODE);
    curl_url_get(u, CURLUPART_PORT, &part[port], 0);
    curl_url_get(u, CURLUPART_PATH, &part[path], 0);
    curl_url_get(u, CURLUPART_QUERY, &part[query], 0);

    if (part[host] == NULL) {
        goto done;
    }

    absolute = (dest->proxy.len && ngx_strcmp(part[scheme], "http") == 0);

    /* a header of the destination's own wins over the module's */

    for (h = dest->headers; h; h = h->next) {
        if (ngx_strncasecmp((u_char *) h->data, (u_char *) "Authorization:",
                            sizeof("Authorization:") - 1) == 0)
        {
            own_auth = 1;
        }

        if (ngx_strncasecmp((u_char *) h->data, (u_char *) "User-Agent:",
                            sizeof("User-Agent:") - 1) == 0)
        {
            uas++;
        }
    }

    /* userinfo, of the URL and of an http:// proxy, as curl sends it */

    for (n = 0; n < (absolute ? 2 : 1); n++) {
        if (n == 1
            && curl_url_set(u, CURLUPART_URL, (char *) dest->proxy.data, 0)
               != CURLUE_OK)
        {
            goto done;
        }

        if (ngx_http_postmark_url_creds(cf, u, &creds[n]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the credentials of %s of forward \"%V\" "
                               "are not valid text once decoded; "
                               "percent-encode printable characters only",
                               n ? "the proxy" : "the URL", &dest->display);
            reported = 1;
            goto done;
        }

        if (n == 0 && own_auth) {
            creds[0].len = 0;
        }

        if (creds[n].len) {
            b64[n].len = ngx_base64_encoded_length(creds[n].len);
            b64[n].data = ngx_pnalloc(cf->pool, b64[n].len);
            if (b64[n].data == NULL) {
                goto done;
            }

            ngx_encode_base64(&b64[n], &creds[n]);
        }
    }

    len = sizeof("POST http:// HTTP/1.1\r\nHost: :\r\n") - 1
          + 2 * (ngx_strlen(part[host]) + (part[port] ? 6 : 0))
          + ngx_strlen(part[path]) + 1
          + (part[query] ? ngx_strlen(part[query]) : 0)
          + sizeof("Authorization: Basic \r\n") - 1 + b64[0].len
          + sizeof("Proxy-Authorization: Basic \r\n") - 1 + b64[1].len;

    for (h = dest->headers; h; h = h->next) {
        len += ngx_strlen(h->data) + 2;
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        goto done;
    }

    dest->head.data = p;

    p = ngx_sprintf(p, "POST ");

    if (absolute) {
        p = ngx_sprintf(p, "http://%s%s%s", part[host],
                        part[port] ? ":" : "", part[port] ? part[port] : "");
    }

    p = ngx_sprintf(p, "%s%s%s HTTP/1.1\r\nHost: %s%s%s\r\n", part[path],
                    part[query] ? "?" : "", part[query] ? part[query] : "",
                    part[host], part[port] ? ":" : "",
                    part[port] ? part[port] : "");

    if (b64[0].len) {
        p = ngx_sprintf(p, "Authorization: Basic %V\r\n", &b64[0]);
    }

    if (b64[1].len) {
        p = ngx_sprintf(p, "Proxy-Authorization: Basic %V\r\n", &b64[1]);
    }

    /* the headers curl was given, but the empty "Expect:" it drops */

    for (h = dest->headers; h; h = h->next) {
        if (ngx_strcmp(h->data, "Expect:") == 0
            || (uas > 1 && ngx_strcmp(h->data, "User-Agent: "
                                      NGX_HTTP_POSTMARK_USER_AGENT) == 0))
        {
            continue;
        }

        p = ngx_sprintf(p, "%s\r\n", h->data);
    }

    dest->head.len = p - dest->head.data;

    rv = NGX_CONF_OK;

done:

    for (i = 0; i < 5; i++) {
        curl_free(part[i]);
    }

    if (u) {
        curl_url_cleanup(u);
    }

    if (rv != NGX_CONF_OK && !reported) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the request to forward \"%V\" cannot be "
                           "built", &dest->display);
    }

    return rv;
}


/* "user:password" of a URL, decoded, or an empty string */

static ngx_int_t
ngx_http_postmark_url_creds(ngx_conf_t *cf, CURLU *u, ngx_str_t *creds)
{
    char       *user, *password;
    ngx_int_t   rc;

    CURLUcode   uc;
    ngx_str_t   text;
    ngx_uint_t  part;

    user = NULL;
    password = NULL;
    rc = NGX_OK;

    /* decoded, but never into a control byte */

    uc = curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
    if (uc != CURLUE_OK && uc != CURLUE_NO_USER) {
        return NGX_ERROR;
    }

    uc = curl_url_get(u, CURLUPART_PASSWORD, &password, CURLU_URLDECODE);
    if (uc != CURLUE_OK && uc != CURLUE_NO_PASSWORD) {
        curl_free(user);
        return NGX_ERROR;
    }

    for (part = 0; part < 2; part++) {
        text.data = (u_char *) (part ? password : user);
        text.len = text.data ? ngx_strlen(text.data) : 0;

        if (text.len && ngx_http_postmark_is_text(&text) != NGX_OK) {
            curl_free(user);
            curl_free(password);
            return NGX_ERROR;
        }
    }

    creds->len = 0;

    if (user) {
        creds->len = ngx_strlen(user) + 1
                     + (password ? ngx_strlen(password) : 0);
        creds->data = ngx_pnalloc(cf->pool, creds->len + 1);

        if (creds->data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_sprintf(creds->data, "%s:%s%Z", user,
                        password ? password : "");
        }
    }

    curl_free(user);
    curl_free(password);

    return rc;
}


static char *
ngx_http_postmark_events(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    unsigned     type;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (dest->filter.types) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        type = ngx_http_postmark_event_type((char *) value[i].data, 0);

        if (type) {
            dest->filter.types |= type;
            continue;
        }

        if (ngx_http_postmark_event_type((char *) value[i].data, 1)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown event type \"%V\"; event types are "
                               "case-sensitive: %s",
                               ngx_http_postmark_quote(cf, &value[i]),
                               ngx_http_postmark_event_type_names());

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown event type \"%V\"; use one or more "
                               "of %s", ngx_http_postmark_quote(cf, &value[i]),
                               ngx_http_postmark_event_type_names());
        }

        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_values(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    const char               **values;
    ngx_http_postmark_list_t  *list;

    list = (ngx_http_postmark_list_t *) (p + cmd->offset);

    if (list->n) {
        return "is duplicate";
    }

    value = cf->args->elts;

    values = ngx_palloc(cf->pool, (cf->args->nelts - 1) * sizeof(char *));
    if (values == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0
            || ngx_http_postmark_is_text(&value[i]) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\"; values must "
                               "be non-empty text",
                               ngx_http_postmark_quote(cf, &value[i]),
                               &cmd->name);
            return NGX_CONF_ERROR;
        }

        values[i - 1] = (const char *) value[i].data;
    }

    list->values = values;
    list->n = cf->args->nelts - 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_metadata(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    u_char       *eq;
    ngx_str_t    *value, *pair;
    ngx_uint_t    i, n;
    const char  **keys, **values;

    if (dest->filter.nmeta) {
        return "is duplicate";
    }

    value = cf->args->elts;
    n = cf->args->nelts - 1;

    keys = ngx_palloc(cf->pool, n * sizeof(char *));
    values = ngx_palloc(cf->pool, n * sizeof(char *));

    if (keys == NULL || values == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        pair = &value[i + 1];
        eq = ngx_strlchr(pair->data, pair->data + pair->len, '=');

        if (eq == NULL || eq == pair->data
            || ngx_http_postmark_is_text(pair) != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid metadata filter \"%V\"; write "
                               "\"key=value\"",
                               ngx_http_postmark_quote(cf, pair));
            return NGX_CONF_ERROR;
        }

        /* the token is ours to split: it lives in the configuration pool */

        *eq = '\0';
        keys[i] = (const char *) pair->data;
        values[i] = (const char *) eq + 1;
    }

    dest->filter.meta_keys = keys;
    dest->filter.meta_values = values;
    dest->filter.nmeta = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    char                *line;
    u_char              *p, c;
    ngx_str_t           *value, *name;
    ngx_uint_t           i;
    struct curl_slist  **last;

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty header name");
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || ngx_strchr("!#$%&'*+-.^_`|~", c) != NULL)
        {
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid header name \"%V\"; a name is letters, "
                           "digits and \"-\", without spaces or \":\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    for (name = ngx_http_postmark_reserved_headers; name->len; name++) {
        if (name->len == value[1].len
            && ngx_strncasecmp(name->data, value[1].data, name->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "header \"%V\" is set by the module and "
                               "cannot be configured", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_postmark_is_text(&value[2]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value of header \"%V\": it contains a "
                           "line break or another control character",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, value[1].len + value[2].len + sizeof(": "));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    line = (char *) p;

    p = ngx_cpymem(p, value[1].data, value[1].len);
    *p++ = ':';
    *p++ = ' ';
    p = ngx_cpymem(p, value[2].data, value[2].len);
    *p = '\0';

    /* in the order written; the module's own go in front at the end */

    for (last = &dest->headers; *last; last = &(*last)->next) { /* void */ }

    if (ngx_http_postmark_header_list(cf->pool, last, line) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_signing_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    ngx_str_t  *value, secret;

    if (dest->nkeys == NGX_HTTP_POSTMARK_KEYS_MAX) {
        return "is given too often: a destination takes at most 8 secrets";
    }

    if (dest->keys == NULL) {
        dest->keys = ngx_palloc(cf->pool, NGX_HTTP_POSTMARK_KEYS_MAX
                                          * sizeof(ngx_http_postmark_key_t));
        if (dest->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    if (ngx_http_postmark_secret(cf, &value[1], &secret) != NGX_OK
        || ngx_http_postmark_credential(cf, dest->client,
                                        NGX_HTTP_POSTMARK_SIGNING, &secret,
                                        NULL)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_postmark_key_decode((char *) secret.data, secret.len,
                                     &dest->keys[dest->nkeys])
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid signing secret: write \"whsec_\" and "
                           "the base64 of 24 to 64 random bytes, as "
                           "Standard Webhooks libraries generate them");
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(secret.data, secret.len);

    dest->nkeys++;

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_remove_fields(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (dest->paths == NULL) {
        dest->paths = ngx_palloc(cf->pool, NGX_HTTP_POSTMARK_PATHS_MAX
                                           * sizeof(ngx_http_postmark_path_t));
        if (dest->paths == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (dest->npaths == NGX_HTTP_POSTMARK_PATHS_MAX) {
            return "names too many fields: a destination takes at most 32";
        }

        /* the names point into the configuration's own tokens */

        if (ngx_http_postmark_path_parse((char *) value[i].data, value[i].len,
                                         &dest->paths[dest->npaths])
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid field \"%V\"; write member names "
                               "separated by dots, such as \"Geo.IP\"",
                               ngx_http_postmark_quote(cf, &value[i]));
            return NGX_CONF_ERROR;
        }

        dest->npaths++;
    }

    return NGX_CONF_OK;
}


/*
 * Certificates and keys are read when the configuration is loaded, as
 * root, and given to curl from memory: workers need no access to them.
 */

static char *
ngx_http_postmark_tls_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    BIO               *bio;
    X509              *x509;
    EVP_PKEY          *pkey;
    ngx_str_t         *value, name, pem;
    ngx_uint_t         is_key, found;
    struct curl_blob  *blob;

    blob = (struct curl_blob *) (p + cmd->offset);

    if (blob->data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    is_key = (cmd->offset == offsetof(ngx_http_postmark_dest_t, cert_key));

    if (ngx_http_postmark_read_file(cf, &name, NGX_HTTP_POSTMARK_PEM_MAX,
                                    is_key ? "private key" : "certificate",
                                    is_key, &pem)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    bio = BIO_new_mem_buf(pem.data, (int) pem.len);
    if (bio == NULL) {
        return NGX_CONF_ERROR;
    }

    found = 0;

    if (is_key) {
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *) "");
        found = (pkey != NULL);
        EVP_PKEY_free(pkey);

    } else {
        while ((x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            X509_free(x509);
            found++;
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    if (!found) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" has no %s in PEM format", &name,
                           is_key ? "unencrypted private key"
                                  : "certificate");
        return NGX_CONF_ERROR;
    }

    blob->data = pem.data;
    blob->len = pem.len;
    blob->flags = CURL_BLOB_NOCOPY;

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_tls_min_version(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    ngx_str_t  *value;

    if (dest->tls_version) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "TLSv1.2") == 0) {
        dest->tls_version = CURL_SSLVERSION_TLSv1_2;

    } else if (ngx_strcmp(value[1].data, "TLSv1.3") == 0) {
        dest->tls_version = CURL_SSLVERSION_TLSv1_3;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"; write \"tls_min_version "
                           "TLSv1.2;\" or \"tls_min_version TLSv1.3;\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* in a client block, the default of its destinations */

static char *
ngx_http_postmark_proxy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char       *rv;
    ngx_str_t  *value, *proxy, *display;

    if (cf->cmd_type & NGX_HTTP_POSTMARK_FORWARD_CONF) {
        proxy = &((ngx_http_postmark_dest_t *) conf)->proxy;
        display = &((ngx_http_postmark_dest_t *) conf)->proxy_display;

    } else {
        proxy = &((ngx_http_postmark_client_t *) conf)->proxy;
        display = &((ngx_http_postmark_client_t *) conf)->proxy_display;
    }

    if (proxy->len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rv = ngx_http_postmark_parse_url(cf, &value[1], display, "proxy URL",
                                     "proxy http://proxy.example:3128;");
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    *proxy = value[1];

    return NGX_CONF_OK;
}


static ngx_http_postmark_policy_t *
ngx_http_postmark_policy_conf(ngx_conf_t *cf, void *conf)
{
    if (cf->cmd_type & NGX_HTTP_POSTMARK_FORWARD_CONF) {
        return &((ngx_http_postmark_dest_t *) conf)->policy;
    }

    return &((ngx_http_postmark_client_t *) conf)->policy;
}


static void
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

static void
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


static char *
ngx_http_postmark_delivery(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                   *value;
    ngx_http_postmark_policy_t  *policy;

    policy = ngx_http_postmark_policy_conf(cf, conf);

    if (policy->delivery != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "direct") == 0) {
        policy->delivery = NGX_HTTP_POSTMARK_DIRECT;

    } else if (ngx_strcmp(value[1].data, "spooled") == 0) {
        policy->delivery = NGX_HTTP_POSTMARK_SPOOLED;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\"; write \"delivery direct;\" "
                           "or \"delivery spooled;\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_postmark_policy_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_conf_set_msec_slot(cf, cmd,
                                  ngx_http_postmark_policy_conf(cf, conf));
}


static char *
ngx_http_postmark_check_max_age(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms < 1000 || *ms > 30 * 24 * 60 * 60 * 1000UL) {
        return "must be between 1s and 30d, such as \"retry_max_age 3d;\"";
    }

    return NGX_CONF_OK;
}


static char *
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


static char *
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


static char *
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

static char *
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

static char *
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

static char *
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

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named || clcf->exact_match || clcf->name.len == 0
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
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


/* what only the whole forward block can tell */

static char *
ngx_http_postmark_forward_check(ngx_conf_t *cf, ngx_http_postmark_dest_t *dest)
{
    int        match;
    BIO       *bio;
    X509      *x509;
    EVP_PKEY  *pkey;

    if ((dest->ca.data || dest->cert.data || dest->cert_key.data
         || dest->tls_version)
        && ngx_strncasecmp(dest->url.data, (u_char *) "https://",
                           sizeof("https://") - 1) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "TLS settings of forward \"%V\" apply to "
                           "https:// destinations only", &dest->display);
        return NGX_CONF_ERROR;
    }

    if ((dest->cert.data == NULL) != (dest->cert_key.data == NULL)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "forward \"%V\" needs both \"tls_certificate\" "
                           "and \"tls_certificate_key\"", &dest->display);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_postmark_curl_check(cf, dest) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (dest->cert.data == NULL) {
        return NGX_CONF_OK;
    }

    bio = BIO_new_mem_buf(dest->cert.data, (int) dest->cert.len);
    x509 = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);

    bio = BIO_new_mem_buf(dest->cert_key.data, (int) dest->cert_key.len);
    pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *) "")
               : NULL;
    BIO_free(bio);

    match = (x509 && pkey && X509_check_private_key(x509, pkey) == 1);

    X509_free(x509);
    EVP_PKEY_free(pkey);
    ERR_clear_error();

    if (!match) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls_certificate_key\" of forward \"%V\" is "
                           "not the key of its \"tls_certificate\"",
                           &dest->display);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A libcurl built without a feature refuses its options: a forward would
 * then go without its client certificate or its own authorities.  Every
 * option a forward sets beyond curl's basics is tried here, once.
 */

static char *
ngx_http_postmark_curl_check(ngx_conf_t *cf, ngx_http_postmark_dest_t *dest)
{
    CURL        *easy;
    CURLcode     rc;
    const char  *what;

    if (dest->ca.data == NULL && dest->cert.data == NULL
        && dest->tls_version == 0)
    {
        return NGX_CONF_OK;
    }

    easy = curl_easy_init();
    if (easy == NULL) {
        return NGX_CONF_ERROR;
    }

    what = "tls_trusted_certificate";
    rc = CURLE_OK;

    if (dest->ca.data) {
        rc = curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &dest->ca);
    }

    if (rc == CURLE_OK && dest->cert.data) {
        what = "tls_certificate";
        rc = curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &dest->cert);

        if (rc == CURLE_OK) {
            what = "tls_certificate_key";
            rc = curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &dest->cert_key);
        }
    }

    if (rc == CURLE_OK && dest->tls_version) {
        what = "tls_min_version";
        rc = curl_easy_setopt(easy, CURLOPT_SSLVERSION, dest->tls_version);
    }

    curl_easy_cleanup(easy);

    if (rc != CURLE_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" of forward \"%V\" cannot be used with "
                           "this libcurl (%s): %s; install a libcurl built "
                           "with OpenSSL (Debian: libcurl4-openssl-dev)",
                           what, &dest->display,
                           curl_version_info(CURLVERSION_NOW)->version,
                           curl_easy_strerror(rc));
        return NGX_CONF_ERROR;
    }

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

    if (plcf->webhook || plcf->prefix.len) {
        return (plcf->webhook != portal) ? "is duplicate"
               : "cannot share a location with the other of "
                 "\"postmark_webhook\" and \"postmark_portal\"";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (portal) {

        /* the part of the URI after the prefix is the Postmark path */

        if (clcf->named || clcf->exact_match || clcf->name.len == 0
#if (NGX_PCRE)
            || clcf->regex
#endif
           )
        {
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


/*
 * Directives inside a block are looked up in nginx's usual way, in a
 * context of their own; "conf" is what they are given.  NGX_MAIN_CONF
 * lets "include" in, so that a client can live in a file of its own: no
 * http directive has that bit, and core ones are not http modules'.
 */

static char *
ngx_http_postmark_parse_block(ngx_conf_t *cf, void *conf, ngx_uint_t type)
{
    char                 *rv;
    void                **main_conf;
    ngx_conf_t            save;
    ngx_http_conf_ctx_t  *ctx, *http_ctx;

    http_ctx = cf->ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_conf_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    main_conf = ngx_pcalloc(cf->pool, sizeof(void *) * ngx_http_max_module);
    if (main_conf == NULL) {
        return NGX_CONF_ERROR;
    }

    main_conf[ngx_http_postmark_module.ctx_index] = conf;

    ctx->main_conf = main_conf;
    ctx->srv_conf = http_ctx->srv_conf;
    ctx->loc_conf = http_ctx->loc_conf;

    save = *cf;
    cf->ctx = ctx;
    cf->cmd_type = type|NGX_MAIN_CONF;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}


/* a secret is written inline, or read from "file=path" when loading */

static ngx_int_t
ngx_http_postmark_secret(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *secret)
{
    ngx_str_t  *directive, name;

    directive = cf->args->elts;

    if (value->len < sizeof("file=") - 1
        || ngx_strncmp(value->data, "file=", sizeof("file=") - 1) != 0)
    {
        *secret = *value;

        if (secret->len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty secret in \"%V\"", directive);
            return NGX_ERROR;
        }

        if (ngx_http_postmark_is_text(secret) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "secret in \"%V\" contains a control "
                               "character", directive);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    name.len = value->len - (sizeof("file=") - 1);
    name.data = value->data + sizeof("file=") - 1;

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs a path: write \"file=/path/to/"
                           "secret\"", directive);
        return NGX_ERROR;
    }

    if (ngx_http_postmark_read_file(cf, &name, NGX_HTTP_POSTMARK_SECRET_MAX,
                                    "secret", 1, secret)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* some editors start a file with one: it is no part of the secret */

    if (secret->len >= 3 && ngx_strncmp(secret->data, "\xEF\xBB\xBF", 3) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" starts with a UTF-8 "
                           "byte-order mark, which would become part of the "
                           "secret; save the file without it", &name);
        return NGX_ERROR;
    }

    /* editors end files with a newline that is no part of the secret */

    while (secret->len && (secret->data[secret->len - 1] == '\n'
                           || secret->data[secret->len - 1] == '\r'
                           || secret->data[secret->len - 1] == ' '
                           || secret->data[secret->len - 1] == '\t'))
    {
        secret->len--;
    }

    secret->data[secret->len] = '\0';

    if (secret->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is empty", &name);
        return NGX_ERROR;
    }

    if (ngx_http_postmark_is_text(secret) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" has more than one line or a "
                           "control character", &name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The whole of a file, NUL-terminated, in configuration memory: nginx
 * reads it as root, before workers drop their privileges.  A relative
 * path is relative to the configuration directory; "name" becomes full.
 * Only a regular file is read, opened without blocking: a FIFO or a
 * device would hang "nginx -t", or the master in a reload.  A "secret"
 * one readable by every user of the machine is worth a warning.
 */

static ngx_int_t
ngx_http_postmark_read_file(ngx_conf_t *cf, ngx_str_t *name, size_t max,
    char *what, ngx_uint_t secret, ngx_str_t *out)
{
    off_t             size;
    size_t            len;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot read %s file \"%V\"", what, name);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is not a regular file; write the "
                           "%s into a file of its own", what, name, what);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > (off_t) max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" is larger than %uz bytes%s",
                           what, name, max,
                           secret ? "; it should hold the secret alone" : "");
        goto done;
    }

    if (secret && (ngx_file_access(&fi) & S_IROTH)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%s file \"%V\" is readable by every user of the "
                           "machine; \"chmod o-r\" it", what, name);
    }

    /* one byte more than it had, to see a file that grew meanwhile */

    out->data = ngx_pnalloc(cf->pool, (size_t) size + 2);
    if (out->data == NULL) {
        goto done;
    }

    for (len = 0; len < (size_t) size + 1; len += n) {
        n = ngx_read_fd(fd, out->data + len, (size_t) size + 1 - len);

        if (n == -1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "cannot read %s file \"%V\"", what, name);
            goto done;
        }

        if (n == 0) {
            break;
        }
    }

    if (len != (size_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s file \"%V\" changed while it was read; try "
                           "again", what, name);
        goto done;
    }

    out->len = len;
    out->data[len] = '\0';
    rc = NGX_OK;

done:

    ngx_close_file(fd);

    return rc;
}


/* no control characters: nothing that could split a header or a log line */

static ngx_int_t
ngx_http_postmark_is_text(ngx_str_t *s)
{
    ngx_uint_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a value fit for an error line: control characters become \xNN */

static ngx_str_t *
ngx_http_postmark_quote(ngx_conf_t *cf, ngx_str_t *s)
{
    u_char      *p;
    ngx_str_t   *q;
    ngx_uint_t   i;

    if (ngx_http_postmark_is_text(s) == NGX_OK) {
        return s;
    }

    q = ngx_palloc(cf->pool, sizeof(ngx_str_t));
    if (q == NULL) {
        return s;
    }

    q->data = ngx_pnalloc(cf->pool, 4 * s->len);
    if (q->data == NULL) {
        return s;
    }

    p = q->data;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            p = ngx_sprintf(p, "\\x%02xd", s->data[i]);

        } else {
            *p++ = s->data[i];
        }
    }

    q->len = p - q->data;

    return q;
}


static ngx_int_t
ngx_http_postmark_is_name(ngx_str_t *s)
{
    u_char      c;
    ngx_uint_t  i;

    if (s->len == 0 || s->len > 64) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')
        {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * SHA-256 of the concatenated parts.  OpenSSL 3 looks the implementation
 * up on every EVP_sha256() digest; it is fetched once per process here.
 */

ngx_int_t
ngx_http_postmark_hash(u_char *out, ngx_str_t *parts, ngx_uint_t n)
{
    static EVP_MD_CTX   *ctx;
    static const EVP_MD *md;

    if (md == NULL) {
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
        md = EVP_sha256();
#endif
        ctx = EVP_MD_CTX_new();

        if (md == NULL || ctx == NULL) {
            md = NULL;
            return NGX_ERROR;
        }
    }

    return ngx_http_postmark_digest(ctx, md, out, parts, n);
}


/* the same, for a thread: with a context of its own */

ngx_int_t
ngx_http_postmark_hash_r(u_char *out, ngx_str_t *parts, ngx_uint_t n)
{
    ngx_int_t    rc;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_postmark_digest(ctx, EVP_sha256(), out, parts, n);

    EVP_MD_CTX_free(ctx);

    return rc;
}


static ngx_int_t
ngx_http_postmark_digest(EVP_MD_CTX *ctx, const EVP_MD *md, u_char *out,
    ngx_str_t *parts, ngx_uint_t n)
{
    ngx_uint_t    i;
    unsigned int  len;

    if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) != 1) {
            return NGX_ERROR;
        }
    }

    if (EVP_DigestFinal_ex(ctx, out, &len) != 1
        || len != NGX_HTTP_POSTMARK_HASH_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
