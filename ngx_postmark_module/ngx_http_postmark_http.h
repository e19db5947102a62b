
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Requests (ngx_http_postmark_http.c): the module's context of a request,
 * its body, its answers and variables; and the handler of each kind of
 * location.
 */

#ifndef _NGX_HTTP_POSTMARK_HTTP_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_HTTP_H_INCLUDED_


#include "ngx_http_postmark_module.h"
#include "ngx_http_postmark_forward.h"


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_postmark_client_t   *client;
    ngx_http_postmark_job_t      *job;       /* while forwards run */
    ngx_http_postmark_route_t    *route;     /* a Templates API call */

    /* for variables; copies that outlive jobs and transfers */
    ngx_str_t                     client_name;
    ngx_str_t                     outcome;
    ngx_str_t                     event;
    ngx_str_t                     message_id;
    ngx_str_t                     webhook_id;
    ngx_str_t                     operation;
    ngx_str_t                     template;
    ngx_str_t                     upstream_status;
} ngx_http_postmark_ctx_t;


ngx_http_postmark_ctx_t *ngx_http_postmark_create_ctx(ngx_http_request_t *r);
void ngx_http_postmark_set_outcome(ngx_http_request_t *r, char *outcome);
size_t ngx_http_postmark_body_size(ngx_http_request_t *r);
ngx_http_postmark_body_t *ngx_http_postmark_read_body(ngx_http_request_t *r);
u_char *ngx_http_postmark_body_error(ngx_pool_t *pool, char *prefix,
    ngx_http_postmark_event_rc_e rc, size_t offset, const char *member);
ngx_int_t ngx_http_postmark_copy(ngx_pool_t *pool, ngx_str_t *dst,
    const char *src);
ngx_int_t ngx_http_postmark_add_header(ngx_http_request_t *r, char *key,
    char *value);
ngx_int_t ngx_http_postmark_send_message(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *head, char *key, char *text);
ngx_int_t ngx_http_postmark_send_status(ngx_http_request_t *r,
    ngx_uint_t status, char *outcome, char *message);
ngx_int_t ngx_http_postmark_send_unauthorized(ngx_http_request_t *r,
    char *challenge, char *message);
struct cJSON;

ngx_int_t ngx_http_postmark_send_cjson(ngx_http_request_t *r,
    ngx_uint_t status, struct cJSON *json);
ngx_int_t ngx_http_postmark_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *json, size_t len);
ngx_int_t ngx_http_postmark_add_variables(ngx_conf_t *cf);

ngx_int_t ngx_http_postmark_webhook_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_postmark_portal_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_postmark_admin_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_postmark_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_postmark_status_json(ngx_http_request_t *r,
    ngx_str_t *only);
ngx_int_t ngx_http_postmark_page(ngx_http_request_t *r);
ngx_int_t ngx_http_postmark_status_own(ngx_http_request_t *r,
    ngx_http_postmark_client_t *client);
ngx_int_t ngx_http_postmark_own_letters(ngx_http_request_t *r,
    ngx_http_postmark_client_t *client, ngx_uint_t replay);


#endif /* _NGX_HTTP_POSTMARK_HTTP_H_INCLUDED_ */
