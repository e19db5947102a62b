
/*
 * Copyright (C) ngx_postmark_module authors
 */


#ifndef _NGX_HTTP_POSTMARK_RECORD_H_INCLUDED_
#define _NGX_HTTP_POSTMARK_RECORD_H_INCLUDED_


/*
 * The spool's records, as they lie in a segment file: a delivery (an
 * event for one destination) or the mark that a delivery is done.  Each
 * is framed with a magic, its length and a CRC32, so that a record torn
 * by a crash, or damaged, is found and skipped, and reading goes on with
 * the next record.  Zeros after the last record are room written ahead
 * (ngx_http_postmark_spool.c), not damage.  Plain C, without nginx, for
 * unit tests and fuzzing.
 *
 *   0  "PMSP"   4  length of the whole record   8  CRC32 of bytes 12..
 *   12 type     13 version   14 reserved (2)
 *   delivery:   16 created, ms since the epoch (8)
 *               24 lengths of client, destination, webhook id and event
 *                  type (2 each)
 *               32 body length (4)
 *               36 client, destination, webhook id, event type, body
 *   done:       16 offset of the delivery in the segment (8)
 *
 * Numbers are little-endian.
 */


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_POSTMARK_RECORD_DELIVERY  1
#define NGX_HTTP_POSTMARK_RECORD_DONE      2

#define NGX_HTTP_POSTMARK_RECORD_HEADER    36
#define NGX_HTTP_POSTMARK_RECORD_DONE_LEN  24
#define NGX_HTTP_POSTMARK_RECORD_NAME_MAX  65535
#define NGX_HTTP_POSTMARK_RECORD_MAX       0xffffffffU  /* its length */


typedef struct {
    int              type;
    uint64_t         offset;        /* where the record starts */
    size_t           length;

    /* a delivery */
    uint64_t         created;
    const char      *client;
    size_t           client_len;
    const char      *dest;
    size_t           dest_len;
    const char      *id;
    size_t           id_len;
    const char      *event;
    size_t           event_len;
    const char      *body;
    size_t           body_len;

    /* a done mark: the offset of its delivery */
    uint64_t         done;
} ngx_http_postmark_record_t;


typedef enum {
    NGX_HTTP_POSTMARK_RECORD_OK = 0,
    NGX_HTTP_POSTMARK_RECORD_END,      /* no more bytes */
    NGX_HTTP_POSTMARK_RECORD_BAD       /* bytes skipped, see *skipped */
} ngx_http_postmark_record_rc_e;


size_t ngx_http_postmark_record_size(const ngx_http_postmark_record_t *rec);
void ngx_http_postmark_record_write(unsigned char *out,
    const ngx_http_postmark_record_t *rec);
ngx_http_postmark_record_rc_e ngx_http_postmark_record_next(
    const unsigned char *buf, size_t len, size_t *pos,
    ngx_http_postmark_record_t *rec, size_t *skipped);
long ngx_http_postmark_record_pending(const unsigned char *buf, size_t len,
    ngx_http_postmark_record_t **pending, size_t *skipped, size_t *damaged,
    size_t *end);


#endif /* _NGX_HTTP_POSTMARK_RECORD_H_INCLUDED_ */
