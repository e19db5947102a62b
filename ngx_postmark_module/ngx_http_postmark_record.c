
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ngx_http_postmark_record.h"


/* zeros in a row that are room, not part of a record */
#define NGX_HTTP_POSTMARK_RECORD_ZEROS  16


static int ngx_http_postmark_record_room(const unsigned char *p, size_t len);
static int ngx_http_postmark_offset_cmp(const void *a, const void *b);
static int ngx_http_postmark_record_read(const unsigned char *p, size_t len,
    ngx_http_postmark_record_t *rec);
static unsigned char *ngx_http_postmark_cpymem(unsigned char *dst,
    const char *src, size_t n);
static uint32_t ngx_http_postmark_crc32(const unsigned char *p, size_t len);
static void ngx_http_postmark_put(unsigned char *p, uint64_t v, int n);
static uint64_t ngx_http_postmark_get(const unsigned char *p, int n);


static const unsigned char  ngx_http_postmark_magic[4] = "PMSP";


/* the caller keeps each name within NGX_HTTP_POSTMARK_RECORD_NAME_MAX */

size_t
ngx_http_postmark_record_size(const ngx_http_postmark_record_t *rec)
{
    if (rec->type == NGX_HTTP_POSTMARK_RECORD_DONE) {
        return NGX_HTTP_POSTMARK_RECORD_DONE_LEN;
    }

    return NGX_HTTP_POSTMARK_RECORD_HEADER + rec->client_len + rec->dest_len
           + rec->id_len + rec->event_len + rec->body_len;
}


void
ngx_http_postmark_record_write(unsigned char *out,
    const ngx_http_postmark_record_t *rec)
{
    size_t          len;
    unsigned char  *p;

    len = ngx_http_postmark_record_size(rec);

    memcpy(out, ngx_http_postmark_magic, 4);
    ngx_http_postmark_put(out + 4, len, 4);
    out[12] = (unsigned char) rec->type;
    out[13] = 1;
    out[14] = 0;
    out[15] = 0;

    if (rec->type == NGX_HTTP_POSTMARK_RECORD_DONE) {
        ngx_http_postmark_put(out + 16, rec->done, 8);

    } else {
        ngx_http_postmark_put(out + 16, rec->created, 8);
        ngx_http_postmark_put(out + 24, rec->client_len, 2);
        ngx_http_postmark_put(out + 26, rec->dest_len, 2);
        ngx_http_postmark_put(out + 28, rec->id_len, 2);
        ngx_http_postmark_put(out + 30, rec->event_len, 2);
        ngx_http_postmark_put(out + 32, rec->body_len, 4);

        p = out + NGX_HTTP_POSTMARK_RECORD_HEADER;
        p = ngx_http_postmark_cpymem(p, rec->client, rec->client_len);
        p = ngx_http_postmark_cpymem(p, rec->dest, rec->dest_len);
        p = ngx_http_postmark_cpymem(p, rec->id, rec->id_len);
        p = ngx_http_postmark_cpymem(p, rec->event, rec->event_len);
        (void) ngx_http_postmark_cpymem(p, rec->body, rec->body_len);
    }

    ngx_http_postmark_put(out + 8, ngx_http_postmark_crc32(out + 12, len - 12),
                          4);
}


/*
 * The record at *pos.  A torn or damaged one is skipped up to the next
 * magic, whose record is then read in turn: *skipped says how many bytes
 * were left behind.  Zeros from *pos to the end are room the spool wrote
 * ahead of its records: the end, with *pos where the records end.
 */

ngx_http_postmark_record_rc_e
ngx_http_postmark_record_next(const unsigned char *buf, size_t len,
    size_t *pos, ngx_http_postmark_record_t *rec, size_t *skipped)
{
    size_t  p, q, z;

    p = *pos;

    if (p >= len || ngx_http_postmark_record_room(buf + p, len - p)) {
        return NGX_HTTP_POSTMARK_RECORD_END;
    }

    if (ngx_http_postmark_record_read(buf + p, len - p, rec) == 0) {
        rec->offset = p;
        *pos = p + rec->length;
        return NGX_HTTP_POSTMARK_RECORD_OK;
    }

    for (q = p + 1; q + 4 <= len; q++) {
        if (memcmp(buf + q, ngx_http_postmark_magic, 4) == 0) {
            break;
        }
    }

    if (q + 4 > len) {
        q = len;

        /*
         * A record torn by a crash, and room after it: a record holds
         * fewer zeros in a row than that (bodies are JSON text).
         */

        for (z = len; z > p + 1 && buf[z - 1] == '\0'; z--) {
            /* void */
        }

        if (len - z >= NGX_HTTP_POSTMARK_RECORD_ZEROS) {
            q = z;
        }
    }

    *skipped = q - p;
    *pos = q;

    return NGX_HTTP_POSTMARK_RECORD_BAD;
}


/* nothing but zeros to the end */

static int
ngx_http_postmark_record_room(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] != '\0') {
            return 0;
        }
    }

    return 1;
}


/*
 * The deliveries of a whole segment that no done mark follows, in the
 * order they were written.  Returns how many there are, with *pending
 * malloc()ed (to free()), or -1 without memory; *skipped counts the
 * damaged bytes passed over, in *damaged places, and *end is where what
 * was written ends, the room after it left out.
 */

long
ngx_http_postmark_record_pending(const unsigned char *buf, size_t len,
    ngx_http_postmark_record_t **pending, size_t *skipped, size_t *damaged,
    size_t *end)
{
    long                           n;
    size_t                         pos, bad, ndone, i, m;
    uint64_t                      *done;
    ngx_http_postmark_record_t     rec, *out;
    ngx_http_postmark_record_rc_e  rc;

    *pending = NULL;
    *skipped = 0;
    *damaged = 0;
    *end = 0;

    /* a record takes 24 bytes at least: this bounds both lists */

    done = malloc((len / NGX_HTTP_POSTMARK_RECORD_DONE_LEN + 1)
                  * sizeof(uint64_t));
    out = malloc((len / NGX_HTTP_POSTMARK_RECORD_HEADER + 1)
                 * sizeof(ngx_http_postmark_record_t));

    if (done == NULL || out == NULL) {
        free(done);
        free(out);
        return -1;
    }

    ndone = 0;
    n = 0;
    pos = 0;

    for ( ;; ) {
        rc = ngx_http_postmark_record_next(buf, len, &pos, &rec, &bad);

        if (rc == NGX_HTTP_POSTMARK_RECORD_END) {
            *end = pos;
            break;
        }

        if (rc == NGX_HTTP_POSTMARK_RECORD_BAD) {
            *skipped += bad;
            (*damaged)++;
            continue;
        }

        if (rec.type == NGX_HTTP_POSTMARK_RECORD_DONE) {
            done[ndone++] = rec.done;

        } else {
            out[n++] = rec;
        }
    }

    qsort(done, ndone, sizeof(uint64_t), ngx_http_postmark_offset_cmp);

    /* keeps those without a done mark, in place */

    m = 0;

    for (i = 0; i < (size_t) n; i++) {
        if (ndone == 0
            || bsearch(&out[i].offset, done, ndone, sizeof(uint64_t),
                       ngx_http_postmark_offset_cmp)
               == NULL)
        {
            out[m++] = out[i];
        }
    }

    free(done);

    *pending = out;

    return (long) m;
}


static int
ngx_http_postmark_offset_cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return (x > y) - (x < y);
}


static int
ngx_http_postmark_record_read(const unsigned char *p, size_t len,
    ngx_http_postmark_record_t *rec)
{
    size_t  n, c, d, i, e, b;

    if (len < 16 || memcmp(p, ngx_http_postmark_magic, 4) != 0) {
        return -1;
    }

    n = (size_t) ngx_http_postmark_get(p + 4, 4);

    if (n < 16 || n > len || p[13] != 1
        || ngx_http_postmark_get(p + 8, 4)
           != ngx_http_postmark_crc32(p + 12, n - 12))
    {
        return -1;
    }

    memset(rec, 0, sizeof(ngx_http_postmark_record_t));

    rec->type = p[12];
    rec->length = n;

    if (rec->type == NGX_HTTP_POSTMARK_RECORD_DONE) {
        if (n != NGX_HTTP_POSTMARK_RECORD_DONE_LEN) {
            return -1;
        }

        rec->done = ngx_http_postmark_get(p + 16, 8);
        return 0;
    }

    if (rec->type != NGX_HTTP_POSTMARK_RECORD_DELIVERY
        || n < NGX_HTTP_POSTMARK_RECORD_HEADER)
    {
        return -1;
    }

    c = (size_t) ngx_http_postmark_get(p + 24, 2);
    d = (size_t) ngx_http_postmark_get(p + 26, 2);
    i = (size_t) ngx_http_postmark_get(p + 28, 2);
    e = (size_t) ngx_http_postmark_get(p + 30, 2);
    b = (size_t) ngx_http_postmark_get(p + 32, 4);

    if (NGX_HTTP_POSTMARK_RECORD_HEADER + c + d + i + e + b != n) {
        return -1;
    }

    rec->created = ngx_http_postmark_get(p + 16, 8);
    rec->client = (const char *) p + NGX_HTTP_POSTMARK_RECORD_HEADER;
    rec->client_len = c;
    rec->dest = rec->client + c;
    rec->dest_len = d;
    rec->id = rec->dest + d;
    rec->id_len = i;
    rec->event = rec->id + i;
    rec->event_len = e;
    rec->body = rec->event + e;
    rec->body_len = b;

    return 0;
}


/* an empty field may have no pointer, which memcpy() does not allow */

static unsigned char *
ngx_http_postmark_cpymem(unsigned char *dst, const char *src, size_t n)
{
    if (n) {
        memcpy(dst, src, n);
    }

    return dst + n;
}


static uint32_t
ngx_http_postmark_crc32(const unsigned char *p, size_t len)
{
    uInt   n;
    uLong  crc;

    crc = crc32(0L, Z_NULL, 0);

    /* zlib counts in uInt */

    while (len) {
        n = len > 0x40000000 ? 0x40000000 : (uInt) len;
        crc = crc32(crc, p, n);
        p += n;
        len -= n;
    }

    return (uint32_t) crc;
}


static void
ngx_http_postmark_put(unsigned char *p, uint64_t v, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        p[i] = (unsigned char) (v >> (8 * i));
    }
}


static uint64_t
ngx_http_postmark_get(const unsigned char *p, int n)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }

    return v;
}
