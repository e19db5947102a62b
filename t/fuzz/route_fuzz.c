
/*
 * libFuzzer target for the portal's route core.  The first byte picks the
 * method, the second the client's scope (templates off, read-only or
 * full; activity; suppressions), the rest is the request target after the
 * location's prefix.  Whatever the input: a refusal carries nothing to
 * send, and its message is printable ASCII; an allowed call is canonical,
 * within the client's scope, never a write but to templates, never one of
 * the endpoints that reveal secrets; and its canonical target, routed
 * again, is allowed as itself.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ngx_http_postmark_route.h"


/* unreserved bytes, "/", "?", "&", "=", and "%" with two hex digits */

static int
canonical(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
            || (*s >= '0' && *s <= '9') || strchr("/._-~?=&", *s))
        {
            continue;
        }

        if (*s == '%' && strchr("0123456789ABCDEF", s[1]) && s[1]
            && strchr("0123456789ABCDEF", s[2]) && s[2])
        {
            s += 2;
            continue;
        }

        return 0;
    }

    return 1;
}


/* printable ASCII only: a refusal never echoes a control byte */

static int
printable(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}


static void
route(int method, const ngx_http_postmark_scope_t *scope, const char *target,
    size_t size, ngx_http_postmark_route_t *rt)
{
    const char  *q;

    q = memchr(target, '?', size);

    ngx_http_postmark_route(method, scope, target,
                            q ? (size_t) (q - target) : size,
                            q ? q + 1 : NULL,
                            q ? size - (q - target) - 1 : 0, rt);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                         method;
    const char                 *target;
    ngx_http_postmark_scope_t   scope;
    ngx_http_postmark_route_t   rt, again;

    if (size < 2) {
        return 0;
    }

    method = data[0] % 6;
    scope.templates = data[1] % 3;
    scope.activity = (data[1] >> 2) & 1;
    scope.suppressions = (data[1] >> 3) & 1;
    target = (const char *) data + 2;
    size -= 2;

    route(method, &scope, target, size, &rt);

    check(memchr(rt.message, '\0', sizeof(rt.message)) != NULL);
    check(memchr(rt.target, '\0', sizeof(rt.target)) != NULL);
    check(memchr(rt.name, '\0', sizeof(rt.name)) != NULL);

    if (rt.status) {
        check(rt.status >= 400 && rt.status < 500);
        check(rt.error_code > 0 && rt.message[0] != '\0');
        check(printable(rt.message));
        check(rt.op == NULL && rt.method == NGX_HTTP_POSTMARK_M_OTHER);
        check(rt.target[0] == '\0' && rt.name[0] == '\0' && !rt.body);
        check((rt.status == 405) == (rt.allow != NULL));
        return 0;
    }

    check(rt.op != NULL && rt.method == method);
    check(rt.target[0] == '/' && canonical(rt.target));
    check(strstr(rt.target, "/.") == NULL && strstr(rt.target, "//") == NULL);
    check(strlen(rt.name) <= NGX_HTTP_POSTMARK_ALIAS_MAX);

    /* within the scope, and read-only but for templates */

    if (starts(rt.op, "templates.")) {
        check(starts(rt.target, "/templates"));
        check(scope.templates != NGX_HTTP_POSTMARK_TEMPLATES_OFF);
        check(scope.templates == NGX_HTTP_POSTMARK_FULL
              || method == NGX_HTTP_POSTMARK_M_GET
              || strcmp(rt.op, "templates.validate") == 0);
        check(strcmp(rt.name, "push") != 0
              && strcmp(rt.name, "validate") != 0);

    } else {
        check(scope.activity && method == NGX_HTTP_POSTMARK_M_GET && !rt.body);
        check(!starts(rt.op, "suppressions.") || scope.suppressions);
    }

    check(!starts(rt.target, "/server") && !starts(rt.target, "/webhooks")
          && !starts(rt.target, "/email"));

    /* what is sent, routed again, is allowed as itself */

    route(method, &scope, rt.target, strlen(rt.target), &again);

    check(again.status == 0 && strcmp(again.target, rt.target) == 0
          && strcmp(again.op, rt.op) == 0);

    return 0;
}
