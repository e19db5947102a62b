
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_SIGN_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_SIGN_H_INCLUDED_


/*
 * Standard Webhooks signatures (www.standardwebhooks.com): "v1," and the
 * base64 HMAC-SHA256 of "id.timestamp.body", keyed by the base64 part of
 * a "whsec_" secret.  Plain C and OpenSSL, without nginx.
 */


#include <stddef.h>


#define NGX_HTTP_POSTMARK_KEY_MIN        24
#define NGX_HTTP_POSTMARK_KEY_MAX        64

/* "v1," and 44 characters of base64, and a space between signatures */
#define NGX_HTTP_POSTMARK_SIGNATURE_LEN  48


typedef struct {
    unsigned char   data[NGX_HTTP_POSTMARK_KEY_MAX];
    size_t          len;
} ngx_http_postmark_key_t;


int ngx_http_postmark_key_decode(const char *text, size_t len,
    ngx_http_postmark_key_t *key);
long ngx_http_postmark_sign(const ngx_http_postmark_key_t *keys,
    size_t nkeys, const char *id, size_t id_len, long long timestamp,
    const char *body, size_t len, char *out);


#endif /* _NGX_HTTP_POSTMARK_SIGN_H_INCLUDED_ */
