
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * What the configuration's files share while nginx.conf is read: the
 * digests of credentials, and the directive handlers and checks one file
 * defines and another calls.  Nothing here runs after the configuration
 * is loaded.
 */


#ifndef _NGX_HTTP_POSTMARK_CONF_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_CONF_H_INCLUDED_


#include "ngx_http_postmark_module.h"


/* the portal and the admin API take the rest of the URI after a prefix */

#if (NGX_PCRE)
#define ngx_http_postmark_prefix_location(clcf)                              \
    (!(clcf)->named && !(clcf)->exact_match && (clcf)->name.len              \
     && (clcf)->regex == NULL)
#else
#define ngx_http_postmark_prefix_location(clcf)                              \
    (!(clcf)->named && !(clcf)->exact_match && (clcf)->name.len)
#endif


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


/* ngx_http_postmark_client.c */

char *ngx_http_postmark_index_users(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
char *ngx_http_postmark_index_spooled(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
char *ngx_http_postmark_check_spooled(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
char *ngx_http_postmark_client_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_webhook_user(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_webhook_password(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_server_token(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_portal_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_access(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_postmark_forward_conf.c */

char *ngx_http_postmark_forward_block(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_parse_url(ngx_conf_t *cf, ngx_str_t *url,
    ngx_str_t *display, char *what, char *example);
char *ngx_http_postmark_forward_head(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest);
char *ngx_http_postmark_events(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_values(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_metadata(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_signing_secret(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_remove_fields(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_proxy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_forward_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_postmark_policy.c */

void ngx_http_postmark_policy_init(ngx_http_postmark_policy_t *policy);
void ngx_http_postmark_policy_merge(ngx_http_postmark_policy_t *conf,
    ngx_http_postmark_policy_t *prev);
char *ngx_http_postmark_delivery(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_policy_msec(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_check_max_age(ngx_conf_t *cf, void *post,
    void *data);
char *ngx_http_postmark_max_concurrent(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_retry_backoff(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_circuit_breaker(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_policy_check(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest, ngx_http_postmark_policy_t *own);
char *ngx_http_postmark_spool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_spool_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_postmark_secret.c */

char *ngx_http_postmark_check_credentials(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf);
ngx_int_t ngx_http_postmark_credential(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client, ngx_uint_t kind, ngx_str_t *value,
    u_char *hash);
char *ngx_http_postmark_tls_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_postmark_tls_min_version(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_postmark_parse_block(ngx_conf_t *cf, void *conf,
    ngx_uint_t type);
ngx_int_t ngx_http_postmark_secret(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *secret);
ngx_int_t ngx_http_postmark_is_text(ngx_str_t *s);
ngx_str_t *ngx_http_postmark_quote(ngx_conf_t *cf, ngx_str_t *s);
ngx_int_t ngx_http_postmark_conf_enum(ngx_conf_t *cf, ngx_conf_enum_t *e,
    ngx_uint_t *out);
ngx_int_t ngx_http_postmark_is_name(ngx_str_t *s);


#endif /* _NGX_HTTP_POSTMARK_CONF_H_INCLUDED_ */
