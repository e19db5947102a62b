
/*
 * libFuzzer target for the webhook event core: any body is either refused
 * with a reason, or named and matched against filters without crashing.
 * What it accepts cJSON reads as an object with the same routed members
 * (unless a lone surrogate escape makes cJSON refuse it); what it refuses
 * as not JSON, the strict check of the whole body refuses alike.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "ngx_http_postmark_event.h"


static int
same_string(const cJSON *root, const char *name, const char *ours)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(root, name);

    if (!cJSON_IsString(item)) {
        return ours == NULL;
    }

    return ours != NULL && strcmp(item->valuestring, ours) == 0;
}


static void
agrees_with_cjson(const uint8_t *data, size_t size,
    ngx_http_postmark_event_t *ev)
{
    cJSON        *root;
    const cJSON  *meta;

    root = cJSON_ParseWithLength((const char *) data, size);

    if (root == NULL) {
        check(has_surrogate_escape(data, size));
        return;
    }

    check(cJSON_IsObject(root));

    if (cJSON_GetObjectItemCaseSensitive(root, "RecordType") == NULL) {
        check(strcmp(ev->record_type, "Inbound") == 0);

    } else {
        check(same_string(root, "RecordType", ev->record_type));
    }

    check(same_string(root, "MessageStream", ev->stream));
    check(same_string(root, "Tag", ev->tag));

    meta = cJSON_GetObjectItemCaseSensitive(root, "Metadata");
    check(cJSON_IsObject(meta) == ev->metadata);
    check(!ev->metadata || (size_t) cJSON_GetArraySize(meta) == ev->nmeta);

    cJSON_Delete(root);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char  *streams[] = { "outbound" };
    static const char  *keys[] = { "a_key", "a_key", "b" };
    static const char  *values[] = { "a_value", "1", "true" };

    size_t                         offset;
    ngx_http_postmark_filter_t     f;
    ngx_http_postmark_event_t      ev;
    ngx_http_postmark_event_rc_e   rc, valid;

    rc = ngx_http_postmark_event_parse((const char *) data, size, &ev);

    check(ngx_http_postmark_event_strerror(rc)[0] != '\0');

    /*
     * The walk checks syntax as it goes; its verdict on a body that is
     * not one JSON object is the strict check's, reason and byte.
     */

    valid = ngx_http_postmark_json_object((const char *) data, size,
                                          &offset);

    if (valid != NGX_HTTP_POSTMARK_EVENT_OK) {
        check(rc == valid && ev.error_offset == offset);

    } else {
        check(rc == NGX_HTTP_POSTMARK_EVENT_OK
              || rc == NGX_HTTP_POSTMARK_EVENT_DUPLICATE
              || rc == NGX_HTTP_POSTMARK_EVENT_NUL
              || rc == NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE
              || rc == NGX_HTTP_POSTMARK_EVENT_NO_MEMORY);
    }

    if (rc != NGX_HTTP_POSTMARK_EVENT_OK) {
        check(ev.error_offset <= size && ev.mem == NULL);
        return 0;
    }

    check(ev.record_type != NULL && ev.record_type[0] != '\0'
          && ev.type != 0);

    memset(&f, 0, sizeof(f));
    (void) ngx_http_postmark_filter_match(&f, &ev);

    f.types = NGX_HTTP_POSTMARK_BOUNCE | NGX_HTTP_POSTMARK_OTHER;
    f.streams.values = streams;
    f.streams.n = 1;
    f.meta_keys = keys;
    f.meta_values = values;
    f.nmeta = 3;
    (void) ngx_http_postmark_filter_match(&f, &ev);

    agrees_with_cjson(data, size, &ev);

    ngx_http_postmark_event_free(&ev);

    return 0;
}
