
/*
 * libFuzzer target for the field-removal core.  The first line of the
 * input lists paths, the rest is JSON.  What the JSON scanner refuses the
 * trimmer refuses.  What it accepts the trimmer trims into JSON the
 * scanner accepts, made only by deleting bytes of the input; and when
 * cJSON reads it (without a lone surrogate, which it refuses), the output
 * equals the input with exactly those members removed, names cut at an
 * escaped NUL as cJSON cuts them.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fuzz.h"
#include "ngx_http_postmark_json.h"
#include "ngx_http_postmark_trim.h"


/* what removing a path means, done on cJSON's tree */

static void
remove_path(cJSON *obj, const ngx_http_postmark_path_t *path, size_t depth)
{
    cJSON  *child, *next;

    for (child = obj->child; child; child = next) {
        next = child->next;

        if (strlen(child->string) != path->len[depth]
            || memcmp(child->string, path->segment[depth], path->len[depth])
               != 0)
        {
            continue;
        }

        if (depth + 1 == path->n) {
            cJSON_Delete(cJSON_DetachItemViaPointer(obj, child));

        } else if (cJSON_IsObject(child)) {
            remove_path(child, path, depth + 1);
        }
    }
}


/*
 * Equal trees, member by member in order: cJSON_Compare() looks members
 * up by name, which pairs the wrong ones when names repeat.
 */

static int
same(const cJSON *a, const cJSON *b)
{
    if ((a->type & 0xff) != (b->type & 0xff)) {
        return 0;
    }

    if (cJSON_IsString(a)) {
        return strcmp(a->valuestring, b->valuestring) == 0;
    }

    if (cJSON_IsNumber(a)) {
        return a->valuedouble == b->valuedouble
               || (a->valuedouble != a->valuedouble
                   && b->valuedouble != b->valuedouble);
    }

    for (a = a->child, b = b->child; a && b; a = a->next, b = b->next) {
        if ((a->string == NULL) != (b->string == NULL)
            || (a->string && strcmp(a->string, b->string) != 0)
            || !same(a, b))
        {
            return 0;
        }
    }

    return a == NULL && b == NULL;
}


static int
strict_object(const char *json, size_t len)
{
    ngx_http_postmark_json_t  j;

    ngx_http_postmark_json_init(&j, json, len, 0);
    ngx_http_postmark_json_blank(&j);

    if (j.p == j.end || *j.p != '{' || ngx_http_postmark_json_value(&j) != 0)
    {
        return 0;
    }

    ngx_http_postmark_json_blank(&j);

    return j.p == j.end;
}


static int
is_subsequence(const char *out, size_t n, const char *in, size_t len)
{
    size_t  i, j;

    for (i = 0, j = 0; i < n && j < len; j++) {
        if (out[i] == in[j]) {
            i++;
        }
    }

    return i == n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                      *out;
    long                       n;
    cJSON                     *in_tree, *out_tree;
    size_t                     i, start, npaths, len;
    const char                *json, *nl, *end;
    ngx_http_postmark_path_t   paths[NGX_HTTP_POSTMARK_PATHS_MAX];

    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return 0;
    }

    npaths = 0;

    for (start = 0, i = 0; data + i <= (const uint8_t *) nl; i++) {
        if (data + i < (const uint8_t *) nl && data[i] != ' ') {
            continue;
        }

        if (i > start && npaths < NGX_HTTP_POSTMARK_PATHS_MAX
            && ngx_http_postmark_path_parse((const char *) data + start,
                                            i - start, &paths[npaths])
               == 0)
        {
            npaths++;
        }

        start = i + 1;
    }

    json = nl + 1;
    len = size - (json - (const char *) data);

    out = malloc(len + 1);
    check(out != NULL);

    n = ngx_http_postmark_trim(json, len, paths, npaths, out);
    check(n <= (long) len);

    if (!strict_object(json, len)) {
        check(n == -1);
        free(out);
        return 0;
    }

    check(n >= 0);
    check(is_subsequence(out, n, json, len));
    check(strict_object(out, n));

    in_tree = cJSON_ParseWithLengthOpts(json, len, &end, 0);

    if (in_tree == NULL) {
        free(out);
        return 0;
    }

    out_tree = cJSON_ParseWithLength(out, n);
    check(out_tree != NULL && cJSON_IsObject(out_tree));

    for (i = 0; i < npaths; i++) {
        remove_path(in_tree, &paths[i], 0);
    }

    check(same(in_tree, out_tree));

    cJSON_Delete(in_tree);
    cJSON_Delete(out_tree);
    free(out);

    return 0;
}
