
/*
 * Unit tests of the Templates API route core, without nginx.  Prints TAP.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_postmark_route.h"
#include "tap.h"


#define GET     NGX_HTTP_POSTMARK_M_GET
#define POST    NGX_HTTP_POSTMARK_M_POST
#define PUT     NGX_HTTP_POSTMARK_M_PUT
#define DELETE  NGX_HTTP_POSTMARK_M_DELETE
#define OTHER   NGX_HTTP_POSTMARK_M_OTHER


static void
route(int method, int read_only, const char *target,
    ngx_http_postmark_route_t *rt)
{
    const char  *q;

    q = strchr(target, '?');

    if (q) {
        ngx_http_postmark_route(method, read_only, target, q - target, q + 1,
                                strlen(q + 1), rt);
    } else {
        ngx_http_postmark_route(method, read_only, target, strlen(target),
                                NULL, 0, rt);
    }
}


static void
allowed(int method, int read_only, const char *target,
    ngx_http_postmark_op_e op, const char *upstream, const char *name,
    int body)
{
    ngx_http_postmark_route_t  rt;

    route(method, read_only, target, &rt);

    ok(rt.status == 0 && rt.op == op, "%s: allowed as %s%s", target,
       ngx_http_postmark_op_name(op), rt.status ? rt.message : "");
    ok(strcmp(rt.target, upstream) == 0, "%s: sent as %s (got %s)", target,
       upstream, rt.target);
    ok(strcmp(rt.name, name) == 0, "%s: template \"%s\"", target, name);
    ok(rt.body == body, "%s: %s", target, body ? "takes a body" : "no body");
}


static void
refused(int method, int read_only, const char *target, int status,
    int code, const char *words)
{
    ngx_http_postmark_route_t  rt;

    route(method, read_only, target, &rt);

    ok(rt.status == status && rt.error_code == code,
       "%s: refused with %d/%d (got %d/%d)", target, status, code,
       rt.status, rt.error_code);
    ok(strstr(rt.message, words) != NULL, "%s: says \"%s\" (%s)", target,
       words, rt.message);
    ok(rt.op == NGX_HTTP_POSTMARK_OP_NONE && rt.target[0] == '\0',
       "%s: nothing to send", target);
}


int
main(void)
{
    char                       alias[NGX_HTTP_POSTMARK_ALIAS_MAX + 1];
    char                       target[200];
    ngx_http_postmark_route_t  rt;

    /* what is allowed, and what is sent for it */

    allowed(GET, 0, "/templates", NGX_HTTP_POSTMARK_OP_LIST, "/templates",
            "", 0);
    allowed(GET, 1, "/templates?Count=10&Offset=0", NGX_HTTP_POSTMARK_OP_LIST,
            "/templates?Count=10&Offset=0", "", 0);
    allowed(GET, 0, "/templates?offset=20&count=500&templatetype=layout"
            "&layoutTemplate=base-layout", NGX_HTTP_POSTMARK_OP_LIST,
            "/templates?Count=500&Offset=20&TemplateType=Layout"
            "&LayoutTemplate=base-layout", "", 0);
    allowed(GET, 0, "/templates?", NGX_HTTP_POSTMARK_OP_LIST, "/templates",
            "", 0);
    allowed(GET, 0, "/templates/1234567", NGX_HTTP_POSTMARK_OP_GET,
            "/templates/1234567", "1234567", 0);
    allowed(GET, 1, "/templates/welcome-email.v2_b", NGX_HTTP_POSTMARK_OP_GET,
            "/templates/welcome-email.v2_b", "welcome-email.v2_b", 0);
    allowed(PUT, 0, "/templates/welcome", NGX_HTTP_POSTMARK_OP_EDIT,
            "/templates/welcome", "welcome", 1);
    allowed(DELETE, 0, "/templates/42", NGX_HTTP_POSTMARK_OP_DELETE,
            "/templates/42", "42", 0);
    allowed(POST, 0, "/templates", NGX_HTTP_POSTMARK_OP_CREATE, "/templates",
            "", 1);
    allowed(POST, 1, "/templates/validate", NGX_HTTP_POSTMARK_OP_VALIDATE,
            "/templates/validate", "", 1);

    /* one trailing slash, as SDKs write some paths: sent without it */

    allowed(POST, 0, "/templates/", NGX_HTTP_POSTMARK_OP_CREATE, "/templates",
            "", 1);
    allowed(GET, 0, "/templates/?count=5&offset=0", NGX_HTTP_POSTMARK_OP_LIST,
            "/templates?Count=5&Offset=0", "", 0);
    allowed(GET, 0, "/templates/42/", NGX_HTTP_POSTMARK_OP_GET,
            "/templates/42", "42", 0);

    memset(alias, 'a', NGX_HTTP_POSTMARK_ALIAS_MAX);
    alias[NGX_HTTP_POSTMARK_ALIAS_MAX] = '\0';

    snprintf(target, sizeof(target), "/templates/%s", alias);
    route(GET, 0, target, &rt);
    ok(rt.status == 0, "an alias of %d characters is allowed",
       NGX_HTTP_POSTMARK_ALIAS_MAX);

    snprintf(target, sizeof(target), "/templates/%sa", alias);
    refused(GET, 0, target, 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a template id or alias");

    /* read-only clients change nothing */

    refused(POST, 1, "/templates", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
            "read-only");
    refused(PUT, 1, "/templates/welcome", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
            "read-only");
    refused(DELETE, 1, "/templates/42", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
            "read-only");

    /* other endpoints and methods */

    refused(POST, 0, "/email", 404, NGX_HTTP_POSTMARK_E_PATH,
            "only the Templates API");
    refused(POST, 0, "/email/withTemplate", 404, NGX_HTTP_POSTMARK_E_PATH,
            "Templates API");
    refused(GET, 0, "/server", 404, NGX_HTTP_POSTMARK_E_PATH, "Templates");
    refused(GET, 0, "/Templates", 404, NGX_HTTP_POSTMARK_E_PATH, "Templates");
    refused(GET, 0, "/templates/1/2", 404, NGX_HTTP_POSTMARK_E_PATH,
            "Templates");
    refused(GET, 0, "", 404, NGX_HTTP_POSTMARK_E_PATH, "Templates");
    refused(GET, 0, "templates", 404, NGX_HTTP_POSTMARK_E_PATH, "Templates");
    refused(PUT, 0, "/templates/push", 403, NGX_HTTP_POSTMARK_E_PUSH,
            "pushing templates");
    refused(GET, 0, "/templates/push", 403, NGX_HTTP_POSTMARK_E_PUSH,
            "pushing templates");
    refused(GET, 0, "/templates/validate", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "POST");
    refused(OTHER, 0, "/templates", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "GET or POST");
    refused(PUT, 0, "/templates", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "GET or POST");
    refused(POST, 0, "/templates/welcome", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "GET, PUT or DELETE");

    route(PUT, 0, "/templates", &rt);
    ok(rt.allow && strcmp(rt.allow, "GET, POST") == 0, "405 says Allow");

    /* request targets that are refused, not normalised */

    refused(GET, 0, "/templates/../server", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "\"..\"");
    refused(GET, 0, "/templates/./1", 400, NGX_HTTP_POSTMARK_E_TARGET, "\".\"");
    refused(GET, 0, "/./templates", 400, NGX_HTTP_POSTMARK_E_TARGET, "\".\"");
    refused(GET, 0, "/templates/%2e%2e", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "percent-encoded");
    refused(GET, 0, "/templates/%252e%252e", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "percent-encoded");
    refused(GET, 0, "/templates%2F1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "percent-encoded");
    refused(GET, 0, "/templates\\1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "backslashes");
    refused(GET, 0, "//templates", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, 0, "/templates//1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, 0, "/templates//", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, 0, "/templates/1//", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, 0, "/templates;jsessionid=1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "\";\" parameters");
    refused(GET, 0, "/templates/1\x01", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "control bytes");
    refused(GET, 0, "/templates/a b", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "this character");
    refused(GET, 0, "/templates/0012", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a template id");
    refused(GET, 0, "/templates/-x", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a template id");
    refused(GET, 0, "/templates/1234567890123456789", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "not a template id");

    /* query parameters */

    refused(GET, 0, "/templates?Count=10&count=20", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "\"Count\" is repeated");
    refused(GET, 0, "/templates?Count=0", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "from 1 to 500");
    refused(GET, 0, "/templates?Count=501", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "from 1 to 500");
    refused(GET, 0, "/templates?Count=-1", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "from 1 to 500");
    refused(GET, 0, "/templates?Offset=01", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "Offset");
    refused(GET, 0, "/templates?TemplateType=Secret", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "All, Standard or Layout");
    refused(GET, 0, "/templates?LayoutTemplate=%2e", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "alias");
    refused(GET, 0, "/templates?Count=", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "needs a value");
    refused(GET, 0, "/templates?Count", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "needs a value");
    refused(GET, 0, "/templates?ServerId=1", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "\"ServerId\" is not allowed");
    refused(GET, 0, "/templates?Count=1&&Offset=0", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "empty or invalid");
    refused(GET, 0, "/templates?Co%75nt=1", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "empty or invalid");
    refused(GET, 0, "/templates/42?Count=1", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "no query parameters");
    refused(POST, 0, "/templates?x", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "no query parameters");

    return done_testing();
}
