
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * A client's portal API: a location bound to one client.  The caller
 * proves who it is with the client's portal key, sent as Postmark's SDKs
 * send a server token.  Only the calls the client's settings allow pass
 * (its templates, and the read-only activity of its server), and the
 * request to Postmark is built from what the route core recognised, with
 * the client's real server token: nothing of the caller's goes through
 * as is.
 */


#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_curl.h"

#include <openssl/crypto.h>


#define NGX_HTTP_POSTMARK_RESPONSE_MAX  (16 * 1024 * 1024)


static ngx_int_t ngx_http_postmark_portal_own(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_loc_conf_t *plcf);
static ngx_int_t ngx_http_postmark_portal_check(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_loc_conf_t *plcf);
static ngx_int_t ngx_http_postmark_portal_key(ngx_http_request_t *r,
    ngx_http_postmark_client_t *client, char **reason);
static ngx_uint_t ngx_http_postmark_portal_is(ngx_str_t *path, char *own);
static ngx_int_t ngx_http_postmark_portal_method(ngx_http_request_t *r,
    char *allow, char *message);
static ngx_int_t ngx_http_postmark_portal_path(ngx_http_request_t *r,
    ngx_str_t *prefix, ngx_str_t *path, u_char **query);
static ngx_int_t ngx_http_postmark_portal_route(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_loc_conf_t *plcf);
static void ngx_http_postmark_portal_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_postmark_portal_call(ngx_http_request_t *r,
    ngx_http_postmark_route_t *rt, ngx_str_t *body);
static void ngx_http_postmark_portal_done(ngx_http_postmark_fetch_t *fetch);
static ngx_int_t ngx_http_postmark_portal_answer(ngx_http_request_t *r,
    ngx_http_postmark_fetch_t *fetch);
static ngx_int_t ngx_http_postmark_portal_refuse(ngx_http_request_t *r,
    ngx_uint_t status, ngx_int_t code, char *message);


static ngx_str_t  ngx_http_postmark_server_token =
    ngx_string("X-Postmark-Server-Token");
static ngx_str_t  ngx_http_postmark_account_token =
    ngx_string("X-Postmark-Account-Token");


ngx_int_t
ngx_http_postmark_portal_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_postmark_ctx_t       *ctx;
    ngx_http_postmark_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);

    ctx = ngx_http_postmark_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->client = plcf->portal_client;
    ctx->client_name = ctx->client->name;

    /* a refusal is answered at once, whatever the output filters return */

    rc = ngx_http_postmark_portal_check(r, ctx, plcf);
    if (rc != NGX_OK || r->header_sent) {
        return rc;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_postmark_portal_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Paths after the prefix that start with "_" are the module's, not
 * Postmark's (none of Postmark's does): the client's view of its own
 * destinations and of its dead letters.  They are matched on the raw
 * request target, as every other portal path is: an encoded or dotted
 * form ("%5Fdeliveries", "x/../_deliveries"), which nginx's URI has
 * decoded and normalised, is left to the route core, which refuses it.
 * NGX_DECLINED for every other path.
 */

static ngx_int_t
ngx_http_postmark_portal_own(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_loc_conf_t *plcf)
{
    u_char                         *query;
    ngx_int_t                       rc;
    ngx_str_t                       path;
    ngx_uint_t                      replay;
    ngx_http_postmark_main_conf_t  *pmcf;

    if (ngx_http_postmark_portal_path(r, &plcf->prefix, &path, &query)
        != NGX_OK
        || path.len < 2 || path.data[1] != '_')
    {
        return NGX_DECLINED;
    }

    replay = 0;

    if (ngx_http_postmark_portal_is(&path, "/_deliveries")
        || ngx_http_postmark_portal_is(&path, "/_dead-letters"))
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_postmark_portal_method(r, "GET, HEAD",
                       "your deliveries and dead letters are read here");
        }

    } else if (ngx_http_postmark_portal_is(&path, "/_dead-letters/replay")) {
        if (r->method != NGX_HTTP_POST) {
            return ngx_http_postmark_portal_method(r, "POST",
                       "a replay is a POST");
        }

        if (ctx->client->portal_replay != 1) {
            return ngx_http_postmark_portal_refuse(r, NGX_HTTP_FORBIDDEN,
                       NGX_HTTP_POSTMARK_E_SCOPE,
                       "replaying your dead letters is not allowed here; "
                       "ask your agency");
        }

        replay = 1;

    } else {
        return NGX_DECLINED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (path.len == sizeof("/_deliveries") - 1) {
        return ngx_http_postmark_status_own(r, ctx->client);
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_postmark_module);

    if (pmcf->spool.len == 0) {
        return ngx_http_postmark_portal_refuse(r, NGX_HTTP_NOT_FOUND,
                   NGX_HTTP_POSTMARK_E_PATH,
                   "this nginx keeps no dead letters: it has no spool");
    }

    return ngx_http_postmark_own_letters(r, ctx->client, replay);
}


static ngx_uint_t
ngx_http_postmark_portal_is(ngx_str_t *path, char *own)
{
    return path->len == ngx_strlen(own)
           && ngx_strncmp(path->data, own, path->len) == 0;
}


static ngx_int_t
ngx_http_postmark_portal_method(ngx_http_request_t *r, char *allow,
    char *message)
{
    if (ngx_http_postmark_add_header(r, "Allow", allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_postmark_portal_refuse(r, NGX_HTTP_NOT_ALLOWED,
                                           NGX_HTTP_POSTMARK_E_METHOD,
                                           message);
}


/* everything that can be refused before the body is read */

static ngx_int_t
ngx_http_postmark_portal_check(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_loc_conf_t *plcf)
{
    char       *reason;
    ngx_int_t   rc;

    /*
     * only HTTP/1's parser sets schema_end, for "GET http://host/path";
     * HTTP/2 and HTTP/3 always have a scheme, from ":scheme"
     */

    if (r->schema_end) {
        return ngx_http_postmark_portal_refuse(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_POSTMARK_E_TARGET,
                   "absolute-form request targets are not accepted");
    }

    rc = ngx_http_postmark_portal_key(r, ctx->client, &reason);
    if (rc != NGX_OK) {
        if (rc == NGX_HTTP_UNAUTHORIZED) {
            ngx_http_postmark_set_outcome(r, "unauthorized");
        }

        return ngx_http_postmark_portal_refuse(r, rc,
                   rc == NGX_HTTP_UNAUTHORIZED ? NGX_HTTP_POSTMARK_E_TOKEN
                                               : NGX_HTTP_POSTMARK_E_HEADER,
                   reason);
    }

    rc = ngx_http_postmark_portal_own(r, ctx, plcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_postmark_portal_route(r, ctx, plcf);
    if (rc != NGX_OK || r->header_sent) {
        return rc;
    }

    /* a declared body is refused before nginx reads it */

    if (!ctx->route->body && r->headers_in.content_length_n > 0) {
        return ngx_http_postmark_portal_refuse(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_POSTMARK_E_BODY,
                   "this call takes no request body");
    }

    if (ctx->route->body
        && r->headers_in.content_length_n
           > (off_t) plcf->templates_max_body_size)
    {
        return ngx_http_postmark_portal_refuse(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                   NGX_HTTP_POSTMARK_E_TOO_LARGE,
                   "the request body is larger than this proxy accepts");
    }

    return NGX_OK;
}


/* the portal key, compared as a digest in constant time */

static ngx_int_t
ngx_http_postmark_portal_key(ngx_http_request_t *r,
    ngx_http_postmark_client_t *client, char **reason)
{
    u_char            hash[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_str_t        *key;
    ngx_uint_t        i, keys;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    key = NULL;
    keys = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == ngx_http_postmark_account_token.len
            && ngx_strncasecmp(h[i].key.data,
                               ngx_http_postmark_account_token.data,
                               h[i].key.len)
               == 0)
        {
            *reason = "X-Postmark-Account-Token is not accepted: this portal "
                      "serves one server's templates and activity";
            return NGX_HTTP_BAD_REQUEST;
        }

        if (h[i].key.len == ngx_http_postmark_server_token.len
            && ngx_strncasecmp(h[i].key.data,
                               ngx_http_postmark_server_token.data,
                               h[i].key.len)
               == 0)
        {
            key = &h[i].value;
            keys++;
        }
    }

    if (keys > 1) {
        *reason = "X-Postmark-Server-Token is repeated";
        return NGX_HTTP_BAD_REQUEST;
    }

    *reason = "Request does not contain a valid portal key: send it as the "
              "X-Postmark-Server-Token header";

    if (key == NULL) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_http_postmark_hash(hash, key, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (CRYPTO_memcmp(hash, client->portal_key_hash,
                      NGX_HTTP_POSTMARK_HASH_LEN)
        != 0)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    return NGX_OK;
}


/*
 * The Postmark path of the raw request target, as the caller sent it:
 * nginx's own URI is already decoded and normalised, and hostile forms
 * must be refused, not repaired.  The path is what follows the location's
 * prefix (a prefix ending in "/" leaves it to the path), up to "?";
 * "query" is the "?", or NULL.  NGX_DECLINED when the raw target does not
 * start with the prefix.
 */

static ngx_int_t
ngx_http_postmark_portal_path(ngx_http_request_t *r, ngx_str_t *prefix,
    ngx_str_t *path, u_char **query)
{
    u_char  *last;

    if (r->unparsed_uri.len < prefix->len
        || ngx_strncmp(r->unparsed_uri.data, prefix->data, prefix->len) != 0)
    {
        return NGX_DECLINED;
    }

    path->data = r->unparsed_uri.data + prefix->len;

    if (prefix->data[prefix->len - 1] == '/') {
        path->data--;
    }

    last = r->unparsed_uri.data + r->unparsed_uri.len;
    *query = ngx_strlchr(path->data, last, '?');
    path->len = (*query ? *query : last) - path->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_postmark_portal_route(ngx_http_request_t *r,
    ngx_http_postmark_ctx_t *ctx, ngx_http_postmark_loc_conf_t *plcf)
{
    int                         method;
    u_char                     *query, *last;
    ngx_str_t                   path;
    ngx_http_postmark_route_t  *rt;

    if (ngx_http_postmark_portal_path(r, &plcf->prefix, &path, &query)
        != NGX_OK)
    {
        return ngx_http_postmark_portal_refuse(r, NGX_HTTP_BAD_REQUEST,
                   NGX_HTTP_POSTMARK_E_TARGET,
                   "the request target is not in canonical form: no "
                   "encoded characters, dot segments or doubled slashes");
    }

    last = r->unparsed_uri.data + r->unparsed_uri.len;

    switch (r->method) {

    case NGX_HTTP_GET:
        method = NGX_HTTP_POSTMARK_M_GET;
        break;

    case NGX_HTTP_POST:
        method = NGX_HTTP_POSTMARK_M_POST;
        break;

    case NGX_HTTP_PUT:
        method = NGX_HTTP_POSTMARK_M_PUT;
        break;

    case NGX_HTTP_DELETE:
        method = NGX_HTTP_POSTMARK_M_DELETE;
        break;

    case NGX_HTTP_PATCH:
        method = NGX_HTTP_POSTMARK_M_PATCH;
        break;

    default:
        method = NGX_HTTP_POSTMARK_M_OTHER;
    }

    rt = ngx_palloc(r->pool, sizeof(ngx_http_postmark_route_t));
    if (rt == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_postmark_route(method, &ctx->client->scope, (char *) path.data,
                            path.len, query ? (char *) query + 1 : NULL,
                            query ? (size_t) (last - query - 1) : 0, rt);

    if (rt->status) {
        if (rt->allow
            && ngx_http_postmark_add_header(r, "Allow", (char *) rt->allow)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_postmark_portal_refuse(r, rt->status, rt->error_code,
                                               rt->message);
    }

    ctx->route = rt;

    ctx->operation.data = (u_char *) rt->op;
    ctx->operation.len = ngx_strlen(rt->op);

    if (rt->template) {
        ctx->template.data = (u_char *) rt->name;
        ctx->template.len = ngx_strlen(rt->name);
    }

    return NGX_OK;
}


static void
ngx_http_postmark_portal_body(ngx_http_request_t *r)
{
    size_t                         size;
    ngx_int_t                      rc;
    ngx_str_t                      body;
    ngx_http_postmark_ctx_t       *ctx;
    ngx_http_postmark_body_t      *shared;
    ngx_http_postmark_route_t     *rt;
    ngx_http_postmark_loc_conf_t  *plcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);
    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);
    rt = ctx->route;

    size = ngx_http_postmark_body_size(r);

    ngx_str_null(&body);

    if (!rt->body) {
        rc = size ? ngx_http_postmark_portal_refuse(r,
                        NGX_HTTP_BAD_REQUEST, NGX_HTTP_POSTMARK_E_BODY,
                        "this call takes no request body")
                  : ngx_http_postmark_portal_call(r, rt, &body);

    } else if (size > plcf->templates_max_body_size) {
        rc = ngx_http_postmark_portal_refuse(r,
                 NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                 NGX_HTTP_POSTMARK_E_TOO_LARGE,
                 "the request body is larger than this proxy accepts");

    } else {
        shared = ngx_http_postmark_read_body(r);

        if (shared == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            body.data = shared->data;
            body.len = shared->len;
            rc = ngx_http_postmark_portal_call(r, rt, &body);
        }
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* returns NGX_DONE when the call to Postmark is under way */

static ngx_int_t
ngx_http_postmark_portal_call(ngx_http_request_t *r,
    ngx_http_postmark_route_t *rt, ngx_str_t *body)
{
    u_char                        *url, *msg;
    size_t                         offset;
    ngx_http_postmark_ctx_t       *ctx;
    ngx_http_postmark_fetch_t     *fetch;
    ngx_http_postmark_event_rc_e   erc;
    ngx_http_postmark_loc_conf_t  *plcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);
    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);

    if (rt->body) {
        erc = ngx_http_postmark_json_object((char *) body->data, body->len,
                                            &offset);

        if (erc != NGX_HTTP_POSTMARK_EVENT_OK) {
            msg = ngx_http_postmark_body_error(r->pool, "Invalid JSON: ", erc,
                                               offset, NULL);
            if (msg == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_postmark_portal_refuse(r,
                       NGX_HTTP_BAD_REQUEST, NGX_HTTP_POSTMARK_E_JSON,
                       (char *) msg);
        }
    }

    fetch = ngx_http_postmark_fetch_create(r->pool);
    if (fetch == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    url = ngx_pnalloc(r->pool, plcf->api_url.len + ngx_strlen(rt->target)
                               + 1);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(url, "%V%s%Z", &plcf->api_url, rt->target);

    /* a call without a body says nothing of a content type */

    ngx_http_postmark_setopt(fetch, CURLOPT_URL, url);
    ngx_http_postmark_setopt(fetch, CURLOPT_HTTPHEADER,
                             rt->body ? ctx->client->api_headers
                                      : ctx->client->api_headers->next);

    fetch->timeout = plcf->api_timeout;

    if (rt->method == NGX_HTTP_POSTMARK_M_PUT) {
        ngx_http_postmark_setopt(fetch, CURLOPT_CUSTOMREQUEST, "PUT");

    } else if (rt->method == NGX_HTTP_POSTMARK_M_DELETE) {
        ngx_http_postmark_setopt(fetch, CURLOPT_CUSTOMREQUEST, "DELETE");
    }

    if (rt->body) {
        ngx_http_postmark_setopt(fetch, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t) body->len);
        ngx_http_postmark_setopt(fetch, CURLOPT_POSTFIELDS, body->data);
    }

    ngx_http_postmark_fetch_keep_response(fetch,
                                          NGX_HTTP_POSTMARK_RESPONSE_MAX, 0);

    fetch->done = ngx_http_postmark_portal_done;
    fetch->data = r;

    if (ngx_http_postmark_fetch_start(fetch) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "postmark portal of client \"%V\": cannot call "
                      "Postmark: %s", &ctx->client->name, fetch->error);

        return ngx_http_postmark_portal_refuse(r, NGX_HTTP_BAD_GATEWAY,
                   NGX_HTTP_POSTMARK_E_UPSTREAM,
                   "the proxy could not call Postmark");
    }

    /* the fetch lives in the request's pool: it ends if the request does */

    return NGX_DONE;
}


static void
ngx_http_postmark_portal_done(ngx_http_postmark_fetch_t *fetch)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = fetch->data;
    c = r->connection;

    rc = ngx_http_postmark_portal_answer(r, fetch);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Postmark's answer goes back as it came: status, Content-Type and body.
 * A 401 is the agency's own token being refused, which is no fault of the
 * caller's and must not read as a bad portal key.
 */

static ngx_int_t
ngx_http_postmark_portal_answer(ngx_http_request_t *r,
    ngx_http_postmark_fetch_t *fetch)
{
    char                     *type;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    if (fetch->status) {
        ctx->upstream_status.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (ctx->upstream_status.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->upstream_status.len = ngx_sprintf(ctx->upstream_status.data,
                                               "%l", fetch->status)
                                   - ctx->upstream_status.data;
    }

    if (fetch->result != CURLE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "postmark portal of client \"%V\": %s call "
                      "failed: %s", &ctx->client->name, &ctx->operation,
                      fetch->too_large ? "Postmark's answer is too large"
                                       : fetch->error);

        ngx_http_postmark_set_outcome(r, "upstream_failed");

        if (fetch->result == CURLE_OPERATION_TIMEDOUT) {
            return ngx_http_postmark_portal_refuse(r,
                       NGX_HTTP_GATEWAY_TIME_OUT,
                       NGX_HTTP_POSTMARK_E_UPSTREAM,
                       "Postmark did not answer in time");
        }

        return ngx_http_postmark_portal_refuse(r, NGX_HTTP_BAD_GATEWAY,
                   NGX_HTTP_POSTMARK_E_UPSTREAM,
                   fetch->too_large ? "Postmark's answer was too large"
                                    : "Postmark could not be reached");
    }

    if (fetch->status == NGX_HTTP_UNAUTHORIZED) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "postmark portal of client \"%V\": Postmark "
                      "refused the client's server_token (401); check it "
                      "in the configuration", &ctx->client->name);

        ngx_http_postmark_set_outcome(r, "upstream_failed");

        return ngx_http_postmark_portal_refuse(r, NGX_HTTP_BAD_GATEWAY,
                   NGX_HTTP_POSTMARK_E_UPSTREAM,
                   "Postmark refused this proxy's credentials for the "
                   "client; the agency must check its server token");
    }

    ngx_http_postmark_set_outcome(r, "proxied");

    if (curl_easy_getinfo(fetch->easy, CURLINFO_CONTENT_TYPE, &type)
            == CURLE_OK
        && type != NULL)
    {
        if (ngx_http_postmark_copy(r->pool, &r->headers_out.content_type,
                                   type)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.content_type_len = r->headers_out.content_type.len;
    }

    return ngx_http_postmark_send_json(r, fetch->status, fetch->response.data,
                                       fetch->response.len);
}


/* Postmark's error shape, so that SDKs report refusals sensibly */

static ngx_int_t
ngx_http_postmark_portal_refuse(ngx_http_request_t *r, ngx_uint_t status,
    ngx_int_t code, char *message)
{
    u_char                    buf[64];
    ngx_str_t                 head;
    ngx_http_postmark_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_postmark_module);

    if (ctx->outcome.len == 0) {
        ngx_http_postmark_set_outcome(r, "refused");
    }

    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "postmark portal of client \"%V\": refused %V: %s",
                      &ctx->client->name, &r->method_name, message);
    }

    head.data = buf;
    head.len = ngx_snprintf(buf, sizeof(buf), "\"ErrorCode\":%i", code) - buf;

    return ngx_http_postmark_send_message(r, status, &head, "Message",
                                          message);
}
