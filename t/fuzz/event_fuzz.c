
/*
 * libFuzzer target for the webhook event core: any body is either refused
 * with a reason, or named and matched against filters without crashing.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_postmark_event.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char  *streams[] = { "outbound" };
    static const char  *keys[] = { "a_key", "a_key", "b" };
    static const char  *values[] = { "a_value", "1", "true" };

    ngx_http_postmark_filter_t     f;
    ngx_http_postmark_event_t      ev;
    ngx_http_postmark_event_rc_e   rc;

    rc = ngx_http_postmark_event_parse((const char *) data, size, &ev);

    if (ngx_http_postmark_event_strerror(rc)[0] == '\0') {
        abort();
    }

    if (rc == NGX_HTTP_POSTMARK_EVENT_OK) {
        if (ev.root == NULL || ev.record_type == NULL || ev.type == 0) {
            abort();
        }

        memset(&f, 0, sizeof(f));
        (void) ngx_http_postmark_filter_match(&f, &ev);

        f.types = NGX_HTTP_POSTMARK_BOUNCE | NGX_HTTP_POSTMARK_OTHER;
        f.streams.values = streams;
        f.streams.n = 1;
        f.meta_keys = keys;
        f.meta_values = values;
        f.nmeta = 3;
        (void) ngx_http_postmark_filter_match(&f, &ev);

    } else if (ev.error_offset > size) {
        abort();
    }

    ngx_http_postmark_event_free(&ev);

    return 0;
}
