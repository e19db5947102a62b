
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "ngx_http_postmark_sign.h"


static int ngx_http_postmark_is_base64(const char *s, size_t len);


/*
 * A secret is "whsec_" and the base64 of 24 to 64 random bytes, as the
 * specification says; anything else is refused rather than guessed at.
 */

int
ngx_http_postmark_key_decode(const char *text, size_t len,
    ngx_http_postmark_key_t *key)
{
    int             n;
    size_t          pad;
    unsigned char   buf[NGX_HTTP_POSTMARK_KEY_MAX + 3];

    if (len < sizeof("whsec_") - 1
        || memcmp(text, "whsec_", sizeof("whsec_") - 1) != 0)
    {
        return -1;
    }

    text += sizeof("whsec_") - 1;
    len -= sizeof("whsec_") - 1;

    if (len == 0 || len % 4 || len > 4 * ((NGX_HTTP_POSTMARK_KEY_MAX + 2) / 3)
        || !ngx_http_postmark_is_base64(text, len))
    {
        return -1;
    }

    n = EVP_DecodeBlock(buf, (const unsigned char *) text, (int) len);
    if (n < 0) {
        return -1;
    }

    /* EVP_DecodeBlock() counts the padding as bytes */
    pad = (text[len - 1] == '=') + (text[len - 2] == '=');

    key->len = (size_t) n - pad;

    if (key->len < NGX_HTTP_POSTMARK_KEY_MIN
        || key->len > NGX_HTTP_POSTMARK_KEY_MAX)
    {
        return -1;
    }

    memcpy(key->data, buf, key->len);

    return 0;
}


/*
 * One signature for each key, separated by spaces, into "out", which has
 * room for nkeys * NGX_HTTP_POSTMARK_SIGNATURE_LEN bytes.  Returns the
 * length, or -1.
 */

long
ngx_http_postmark_sign(const ngx_http_postmark_key_t *keys, size_t nkeys,
    const char *id, size_t id_len, long long timestamp, const char *body,
    size_t len, char *out)
{
    int                 n;
    char                ts[24];
    char               *p;
    size_t              i, md_len;
    OSSL_PARAM          params[2];
    unsigned char       md[EVP_MAX_MD_SIZE];
    EVP_MAC_CTX        *ctx;
    static EVP_MAC     *mac;

    if (mac == NULL) {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
            return -1;
        }
    }

    ctx = EVP_MAC_CTX_new(mac);
    if (ctx == NULL) {
        return -1;
    }

    n = snprintf(ts, sizeof(ts), "%lld", timestamp);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    p = out;

    for (i = 0; i < nkeys; i++) {

        if (EVP_MAC_init(ctx, keys[i].data, keys[i].len, params) != 1
            || EVP_MAC_update(ctx, (const unsigned char *) id, id_len) != 1
            || EVP_MAC_update(ctx, (const unsigned char *) ".", 1) != 1
            || EVP_MAC_update(ctx, (const unsigned char *) ts, n) != 1
            || EVP_MAC_update(ctx, (const unsigned char *) ".", 1) != 1
            || EVP_MAC_update(ctx, (const unsigned char *) body, len) != 1
            || EVP_MAC_final(ctx, md, &md_len, sizeof(md)) != 1)
        {
            EVP_MAC_CTX_free(ctx);
            return -1;
        }

        if (i) {
            *p++ = ' ';
        }

        memcpy(p, "v1,", 3);
        p += 3;
        p += EVP_EncodeBlock((unsigned char *) p, md, (int) md_len);
    }

    EVP_MAC_CTX_free(ctx);

    return p - out;
}


static int
ngx_http_postmark_is_base64(const char *s, size_t len)
{
    char    c;
    size_t  i;

    for (i = 0; i < len; i++) {
        c = s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '+' || c == '/')
        {
            continue;
        }

        /* padding, at the end only */

        if (c == '=' && (i == len - 1 || (i == len - 2 && s[len - 1] == '=')))
        {
            continue;
        }

        return 0;
    }

    return 1;
}
