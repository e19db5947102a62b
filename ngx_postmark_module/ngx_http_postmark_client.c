
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The configuration of a client: its block, its webhook credentials, its
 * portal key and Postmark server token, and the checks that need every
 * client at once (credentials no two clients may share, the indexes a
 * request finds its client in).
 */


#include "ngx_http_postmark_conf.h"
#include "ngx_http_postmark_curl.h"


static int ngx_libc_cdecl ngx_http_postmark_spooled_cmp(const void *one,
    const void *two);
static char *ngx_http_postmark_client_check(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client);
static char *ngx_http_postmark_portal_check(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client, ngx_uint_t token);


static ngx_conf_enum_t  ngx_http_postmark_templates[] = {
    { ngx_string("full"), NGX_HTTP_POSTMARK_FULL },
    { ngx_string("read-only"), NGX_HTTP_POSTMARK_READ_ONLY },
    { ngx_string("off"), NGX_HTTP_POSTMARK_TEMPLATES_OFF },
    { ngx_null_string, 0 }
};


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
 * The clients with webhook credentials, in a table by their user's
 * digest, at most half full: a request finds its client in one or two
 * probes, each in the table itself, whatever the number of clients.
 * Users are unique (checked with the other credentials).
 */

char *
ngx_http_postmark_index_users(ngx_conf_t *cf,
    ngx_http_postmark_main_conf_t *pmcf)
{
    uint64_t                      key;
    ngx_uint_t                    i, j, n, size;
    ngx_http_postmark_client_t  **clients;

    clients = pmcf->clients.elts;
    n = 0;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        n += clients[i]->has_password;
    }

    for (size = 2; size < 2 * n; size *= 2) { /* void */ }

    pmcf->users = ngx_pcalloc(cf->pool,
                              size * sizeof(ngx_http_postmark_user_t));
    if (pmcf->users == NULL) {
        return NGX_CONF_ERROR;
    }

    pmcf->users_mask = size - 1;

    for (i = 0; i < pmcf->clients.nelts; i++) {
        if (!clients[i]->has_password) {
            continue;
        }

        ngx_memcpy(&key, clients[i]->user_hash, sizeof(uint64_t));

        for (j = key & pmcf->users_mask;
             pmcf->users[j].client;
             j = (j + 1) & pmcf->users_mask)
        {
            /* void */
        }

        pmcf->users[j].key = key;
        pmcf->users[j].client = clients[i];
    }

    return NGX_CONF_OK;
}


/* spooled destinations sorted by client and URL, as records name them */

char *
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
 * Spooled destinations need the spool, and are told apart in it by their
 * client and URL; each gets the index of its outbox.
 */

char *
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


char *
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
                           "64 printable characters, without spaces or "
                           "\"/\"",
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
    client->portal_replay = NGX_CONF_UNSET;
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


char *
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


char *
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

char *
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


char *
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


char *
ngx_http_postmark_access(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_postmark_client_t *client = conf;

    ngx_uint_t  access;

    if (client->scope.templates != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (ngx_http_postmark_conf_enum(cf, ngx_http_postmark_templates,
                                    &access)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    client->scope.templates = (int) access;

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
          : (client->suppressions != NGX_CONF_UNSET) ? "suppressions"
          : (client->portal_replay != NGX_CONF_UNSET) ? "portal_replay"
          : NULL;

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
