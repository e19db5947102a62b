
/*
 * libFuzzer target for the Templates API route core.  The first byte picks
 * the method, the second the access level, the rest is the request target
 * after the location's prefix.  Whatever the input, a refusal carries
 * nothing to send, and an allowed call is one of the Templates API's, in
 * canonical form, within what the access level permits.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_postmark_route.h"


static void
check(int cond)
{
    if (!cond) {
        abort();
    }
}


static int
canonical(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || strchr("/._-?=&", *s)))
        {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         method, read_only;
    const char                 *target, *q;
    ngx_http_postmark_route_t   rt;

    if (size < 2) {
        return 0;
    }

    method = data[0] % 5;
    read_only = data[1] & 1;
    target = (const char *) data + 2;
    size -= 2;

    q = memchr(target, '?', size);

    ngx_http_postmark_route(method, read_only, target,
                            q ? (size_t) (q - target) : size,
                            q ? q + 1 : NULL,
                            q ? size - (q - target) - 1 : 0, &rt);

    check(memchr(rt.message, '\0', sizeof(rt.message)) != NULL);
    check(memchr(rt.target, '\0', sizeof(rt.target)) != NULL);
    check(memchr(rt.name, '\0', sizeof(rt.name)) != NULL);

    if (rt.status) {
        check(rt.status >= 400 && rt.status < 500);
        check(rt.error_code > 0 && rt.message[0] != '\0');
        check(rt.op == NGX_HTTP_POSTMARK_OP_NONE);
        check(rt.target[0] == '\0' && rt.name[0] == '\0' && !rt.body);
        return 0;
    }

    check(rt.op != NGX_HTTP_POSTMARK_OP_NONE);
    check(strncmp(rt.target, "/templates", 10) == 0);
    check(rt.target[10] == '\0' || rt.target[10] == '/'
          || rt.target[10] == '?');
    check(canonical(rt.target));
    check(strstr(rt.target, "/.") == NULL && strstr(rt.target, "//") == NULL);
    check(strcmp(rt.name, "push") != 0 && strcmp(rt.name, "validate") != 0);
    check(strlen(rt.name) <= NGX_HTTP_POSTMARK_ALIAS_MAX);

    check(!read_only || rt.op == NGX_HTTP_POSTMARK_OP_LIST
          || rt.op == NGX_HTTP_POSTMARK_OP_GET
          || rt.op == NGX_HTTP_POSTMARK_OP_VALIDATE);

    check(rt.body == (rt.op == NGX_HTTP_POSTMARK_OP_CREATE
                      || rt.op == NGX_HTTP_POSTMARK_OP_EDIT
                      || rt.op == NGX_HTTP_POSTMARK_OP_VALIDATE));

    check(rt.op == NGX_HTTP_POSTMARK_OP_LIST || strchr(rt.target, '?') == NULL);

    return 0;
}
