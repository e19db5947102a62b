
/*
 * libFuzzer target for the spool's record core.  Any bytes may lie in a
 * segment after a crash or damage: reading them must stay inside them,
 * every record found must be exactly what writing it again gives, and
 * records plus skipped bytes must account for the whole segment, but for
 * room at its end: zeros only.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ngx_http_postmark_record.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long                           n, i;
    size_t                         pos, bad, total, skipped, damaged, last,
                                   end, k;
    unsigned char                 *copy, *again;
    ngx_http_postmark_record_t     rec, *pending;
    ngx_http_postmark_record_rc_e  rc;

    /* a copy of the exact size, so ASan sees any read past the end */

    copy = malloc(size ? size : 1);
    memcpy(copy, data, size);

    pos = 0;
    total = 0;

    for ( ;; ) {
        rc = ngx_http_postmark_record_next(copy, size, &pos, &rec, &bad);

        if (rc == NGX_HTTP_POSTMARK_RECORD_END) {
            break;
        }

        if (rc == NGX_HTTP_POSTMARK_RECORD_BAD) {
            check(bad > 0);
            total += bad;
            continue;
        }

        check(rec.offset + rec.length == pos && pos <= size);
        check(ngx_http_postmark_record_size(&rec) == rec.length);

        again = malloc(rec.length);
        ngx_http_postmark_record_write(again, &rec);
        check(memcmp(again, copy + rec.offset, rec.length) == 0);
        free(again);

        total += rec.length;
    }

    check(total == pos && pos <= size);

    for (k = pos; k < size; k++) {
        check(copy[k] == 0);
    }

    n = ngx_http_postmark_record_pending(copy, size, &pending, &skipped,
                                         &damaged, &end);
    check(n >= 0);
    check(skipped <= size && (skipped == 0) == (damaged == 0));
    check(end == pos);

    last = 0;

    for (i = 0; i < n; i++) {
        check(pending[i].type == NGX_HTTP_POSTMARK_RECORD_DELIVERY);
        check(i == 0 || pending[i].offset >= last);
        check(pending[i].body + pending[i].body_len
              <= (const char *) copy + size);
        last = pending[i].offset + pending[i].length;
    }

    free(pending);
    free(copy);

    return 0;
}
