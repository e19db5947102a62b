
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * Secrets and files: a value given inline or as "file:", read with a
 * bound from regular files only; TLS certificates and keys; the SHA-256
 * digests credentials are compared by, and the check that no two clients
 * share one; and the small text checks the configuration's messages rely
 * on.
 */


#include "ngx_http_postmark_conf.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


#define NGX_HTTP_POSTMARK_SECRET_MAX  4096
#define NGX_HTTP_POSTMARK_PEM_MAX     (1024 * 1024)


static ngx_int_t ngx_http_postmark_read_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, char *what, ngx_uint_t secret, ngx_str_t *out);
static ngx_int_t ngx_http_postmark_digest(EVP_MD_CTX *ctx, const EVP_MD *md,
    u_char *out, ngx_str_t *parts, ngx_uint_t n);
static char *ngx_http_postmark_credential_clash(ngx_conf_t *cf,
    ngx_http_postmark_credential_t *a, ngx_http_postmark_credential_t *b);
static int ngx_libc_cdecl ngx_http_postmark_credential_cmp(const void *one,
    const void *two);


static ngx_conf_enum_t  ngx_http_postmark_tls_versions[] = {
    { ngx_string("TLSv1.2"), CURL_SSLVERSION_TLSv1_2 },
    { ngx_string("TLSv1.3"), CURL_SSLVERSION_TLSv1_3 },
    { ngx_null_string, 0 }
};


/*
 * Certificates and keys are read when the configuration is loaded, as
 * root, and given to curl from memory: workers need no access to them.
 */

char *
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


char *
ngx_http_postmark_tls_min_version(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_postmark_dest_t *dest = conf;

    ngx_uint_t  version;

    if (dest->tls_version) {
        return "is duplicate";
    }

    if (ngx_http_postmark_conf_enum(cf, ngx_http_postmark_tls_versions,
                                    &version)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    dest->tls_version = (long) version;

    return NGX_CONF_OK;
}


/*
 * Directives inside a block are looked up in nginx's usual way, in a
 * context of their own; "conf" is what they are given.  NGX_MAIN_CONF
 * lets "include" in, so that a client can live in a file of its own: no
 * http directive has that bit, and core ones are not http modules'.
 */

char *
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

ngx_int_t
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

ngx_int_t
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


/*
 * A copy fit for a log line, NUL-terminated in "size" bytes: what is not
 * printable ASCII becomes "c".  For threads too.
 */

void
ngx_http_postmark_printable(u_char *dst, size_t size, const char *src,
    size_t len, u_char c)
{
    size_t  i;

    len = ngx_min(len, size - 1);

    for (i = 0; i < len; i++) {
        dst[i] = ((u_char) src[i] >= 0x20 && (u_char) src[i] < 0x7f)
                 ? (u_char) src[i] : c;
    }

    dst[len] = '\0';
}


/* a value fit for an error line: control characters become \xNN */

ngx_str_t *
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


/*
 * One value out of a few, as ngx_conf_set_enum_slot() finds it; the
 * refusal shows every way of writing the directive.
 */

ngx_int_t
ngx_http_postmark_conf_enum(ngx_conf_t *cf, ngx_conf_enum_t *e,
    ngx_uint_t *out)
{
    u_char      *p, *last;
    ngx_str_t   *value;
    ngx_uint_t   i, n;
    u_char       buf[NGX_MAX_CONF_ERRSTR];

    value = cf->args->elts;

    for (n = 0; e[n].name.len; n++) {
        if (e[n].name.len == value[1].len
            && ngx_strncmp(e[n].name.data, value[1].data, value[1].len) == 0)
        {
            *out = e[n].value;
            return NGX_OK;
        }
    }

    p = buf;
    last = buf + sizeof(buf);

    for (i = 0; i < n; i++) {
        p = ngx_slprintf(p, last, "%s\"%V %V;\"",
                         (i == 0) ? "" : (i == n - 1) ? " or " : ", ",
                         &value[0], &e[i].name);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\"; write %*s",
                       ngx_http_postmark_quote(cf, &value[1]),
                       (size_t) (p - buf), buf);

    return NGX_ERROR;
}


/*
 * A client's or a destination's name: up to 64 printable characters, no
 * space and no "/", which logs and the status page put between the two.
 * Whatever shows it escapes it as its format wants.
 */

ngx_int_t
ngx_http_postmark_is_name(ngx_str_t *s)
{
    ngx_uint_t  i;

    if (s->len == 0 || s->len > 64) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] <= ' ' || s->data[i] >= 0x7f || s->data[i] == '/') {
            return NGX_ERROR;
        }
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


/*
 * Equal credentials are found by sorting their digests: linear enough for
 * thousands of clients, where comparing every pair would not be.
 */

char *
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

ngx_int_t
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
