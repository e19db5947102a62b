
/*
 * libFuzzer target for the JSON scanner, against cJSON: what the scanner
 * accepts, cJSON reads too (cJSON is laxer, but for one thing: it refuses
 * lone surrogate escapes, which JSON allows), and a refusal points inside
 * the input.  Unescaping never grows a string.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "ngx_http_postmark_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                        rc, escaped, nul;
    char                      *out;
    cJSON                     *tree;
    size_t                     n;
    const char                *text, *end;
    ngx_http_postmark_json_t   j;

    text = (const char *) data;

    /* below cJSON's own nesting limit, so that depth never differs */

    ngx_http_postmark_json_init(&j, text, size, 500);

    rc = ngx_http_postmark_json_value(&j);

    check(j.p >= j.start && j.p <= j.end);

    if (rc == 0) {
        ngx_http_postmark_json_blank(&j);
        rc = (j.p == j.end) ? 0 : -1;
    }

    if (rc != 0) {
        return 0;
    }

    tree = cJSON_ParseWithLengthOpts(text, size, &end, 0);

    check(tree != NULL || has_surrogate_escape(data, size));

    cJSON_Delete(tree);

    /* a string alone: its text unescaped is never longer */

    ngx_http_postmark_json_init(&j, text, size, 0);
    ngx_http_postmark_json_blank(&j);

    if (j.p < j.end && *j.p == '"') {
        const char  *raw = (const char *) j.p + 1;

        check(ngx_http_postmark_json_string(&j, &escaped) == 0);

        n = (const char *) j.p - raw - 1;
        out = malloc(n + 1);
        check(out != NULL);

        check(ngx_http_postmark_json_unescape(raw, n, out, &nul) <= n);
        check(escaped || (memcmp(out, raw, n) == 0 && !nul));

        free(out);
    }

    return 0;
}
