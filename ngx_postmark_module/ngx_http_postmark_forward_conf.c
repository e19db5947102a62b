
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The configuration of a forward: its URL, the events it wants, its own
 * headers and signing secret, the fields it drops, its outbound proxy, and
 * the head of its request, built once here for every event it will carry.
 */


#include "ngx_http_postmark_conf.h"
#include "ngx_http_postmark_curl.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


static ngx_int_t ngx_http_postmark_url_creds(ngx_conf_t *cf, CURLU *u,
    ngx_str_t *creds);
static char *ngx_http_postmark_forward_label(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest);
static char *ngx_http_postmark_forward_check(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest);
static char *ngx_http_postmark_curl_check(ngx_conf_t *cf,
    ngx_http_postmark_dest_t *dest);


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


char *
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

    rv = ngx_http_postmark_forward_label(cf, client, dest);
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

char *
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

char *
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


char *
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


char *
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


char *
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


char *
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


char *
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


char *
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


/* in a client block, the default of its destinations */

char *
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


/* a forward's name, its label in metrics: never its URL's path */

char *
ngx_http_postmark_forward_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    ngx_str_t  *value;

    if (dest->name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_postmark_is_name(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid forward name \"%V\"; use up to 64 "
                           "printable characters, without spaces or \"/\"",
                           ngx_http_postmark_quote(cf, &value[1]));
        return NGX_CONF_ERROR;
    }

    dest->name = value[1];

    return NGX_CONF_OK;
}


/*
 * Without a name, a forward is known by its host (and port): a second
 * one to the same host gets its place among the client's forwards, as
 * "host-2".  Names are unique within a client.
 */

static char *
ngx_http_postmark_forward_label(ngx_conf_t *cf,
    ngx_http_postmark_client_t *client, ngx_http_postmark_dest_t *dest)
{
    u_char                    *p, *host, *end;
    ngx_uint_t                 i, n, own;
    ngx_http_postmark_dest_t  *dests;

    dests = client->dests.elts;
    n = client->dests.nelts - 1;       /* "dest" is the last */
    own = (dest->name.len != 0);

    host = (u_char *) ngx_strstr(dest->display.data, "://") + 3;
    end = dest->display.data + dest->display.len;

    for (p = host; p < end && *p != '/'; p++) { /* void */ }

    dest->host.data = host;
    dest->host.len = p - host;

    if (!own) {
        dest->name = dest->host;
    }

    for (i = 0; i < n; i++) {
        if (dests[i].name.len != dest->name.len
            || ngx_strncmp(dests[i].name.data, dest->name.data,
                           dest->name.len) != 0)
        {
            continue;
        }

        if (own) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "forward name \"%V\" is already taken by "
                               "another forward of postmark client \"%V\"; "
                               "give this one another with \"name\"",
                               &dest->name, &client->name);
            return NGX_CONF_ERROR;
        }

        p = ngx_pnalloc(cf->pool, dest->name.len + 1 + NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        dest->name.len = ngx_sprintf(p, "%V-%ui", &dest->name, n + 1) - p;
        dest->name.data = p;

        /* "host-2" may be another's own name: look again, as if given */

        own = 1;
        i = (ngx_uint_t) -1;
    }

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
