
/*
 * Unit tests of the field-removal core: the exact bytes expected after
 * removing members, first, last or alone, nested, duplicated, with escaped
 * names; and inputs that are refused.
 */


#define _POSIX_C_SOURCE  200809L

#include <stdlib.h>
#include <string.h>

#include "ngx_http_postmark_trim.h"
#include "tap.h"


static void
trim(const char *paths, const char *in, const char *want)
{
    char                      *out, *list, *p;
    long                       n;
    size_t                     npaths;
    ngx_http_postmark_path_t   path[NGX_HTTP_POSTMARK_PATHS_MAX];

    list = strdup(paths);
    npaths = 0;

    for (p = strtok(list, " "); p; p = strtok(NULL, " ")) {
        if (ngx_http_postmark_path_parse(p, strlen(p), &path[npaths++]) != 0) {
            printf("Bail out! bad path %s\n", p);
            exit(1);
        }
    }

    out = malloc(strlen(in) + 1);
    n = ngx_http_postmark_trim(in, strlen(in), path, npaths, out);

    if (want == NULL) {
        ok(n == -1, "refused: %s", in);

    } else {
        ok(n >= 0 && (size_t) n == strlen(want) && memcmp(out, want, n) == 0,
           "[%s] %s -> %s (got %.*s)", paths, in, want, (int) (n < 0 ? 0 : n),
           out);
    }

    free(out);
    free(list);
}


int
main(void)
{
    ngx_http_postmark_path_t  path;

    /* position of the removed member */

    trim("a", "{\"a\":1,\"b\":2,\"c\":3}", "{\"b\":2,\"c\":3}");
    trim("b", "{\"a\":1,\"b\":2,\"c\":3}", "{\"a\":1,\"c\":3}");
    trim("c", "{\"a\":1,\"b\":2,\"c\":3}", "{\"a\":1,\"b\":2}");
    trim("a", "{\"a\":1}", "{}");
    trim("a b c", "{\"a\":1,\"b\":2,\"c\":3}", "{}");
    trim("a c", "{\"a\":1,\"b\":2,\"c\":3}", "{\"b\":2}");
    trim("x", "{\"a\":1}", "{\"a\":1}");
    trim("x", "{}", "{}");
    trim("x", " {} ", " {} ");

    /* spacing stays as it came */

    trim("b", "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n",
         "{\n  \"a\": 1,\n  \"c\": 3\n}\n");
    trim("c", "{ \"a\" : 1 , \"c\" : 3 }", "{ \"a\" : 1 }");
    trim("a", "{ \"a\" : 1 , \"c\" : 3 }", "{ \"c\" : 3 }");
    trim("a", "{\t\"a\":1\t}", "{\t\t}");

    /* nested members, and paths through things that are not objects */

    trim("Geo.IP", "{\"Geo\":{\"City\":\"Novi Sad\",\"IP\":\"8.8.8.8\"},"
         "\"IP\":\"kept\"}",
         "{\"Geo\":{\"City\":\"Novi Sad\"},\"IP\":\"kept\"}");
    trim("Geo.IP", "{\"Geo\":{\"IP\":\"8.8.8.8\"}}", "{\"Geo\":{}}");
    trim("Geo.IP", "{\"Geo\":[{\"IP\":1}]}", "{\"Geo\":[{\"IP\":1}]}");
    trim("Geo.IP", "{\"Geo\":\"IP\"}", "{\"Geo\":\"IP\"}");
    trim("a.b.c", "{\"a\":{\"b\":{\"c\":1,\"d\":2}}}",
         "{\"a\":{\"b\":{\"d\":2}}}");
    trim("a a.b", "{\"a\":{\"b\":1},\"z\":0}", "{\"z\":0}");
    trim("a.b a.c", "{\"a\":{\"b\":1,\"c\":2,\"d\":3}}", "{\"a\":{\"d\":3}}");

    /* every member of the name, and names however they are written */

    trim("a", "{\"a\":1,\"b\":2,\"a\":3}", "{\"b\":2}");
    trim("Geo", "{\"\\u0047eo\":1,\"b\":2}", "{\"b\":2}");
    trim("Geo", "{\"G\\u0065o\":1,\"b\":2}", "{\"b\":2}");
    trim("a\"b", "{\"a\\\"b\":1,\"c\":2}", "{\"c\":2}");
    trim("caf\xc3\xa9", "{\"caf\\u00e9\":1,\"x\":2}", "{\"x\":2}");
    trim("\xf0\x9f\x98\x80", "{\"\\ud83d\\ude00\":1,\"x\":2}", "{\"x\":2}");
    trim("Geo", "{\"geo\":1}", "{\"geo\":1}");

    /* what C parsers read as the member, cut at an escaped NUL */

    trim("Content", "{\"Content\\u0000x\":\"secret\",\"ok\":1}",
         "{\"ok\":1}");
    trim("Geo.IP", "{\"Geo\\u0000\":{\"IP\\u0000y\":1,\"City\":2}}",
         "{\"Geo\\u0000\":{\"City\":2}}");
    trim("Content", "{\"Conten\\u0000t\":1}", "{\"Conten\\u0000t\":1}");
    trim("Content", "{\"Content\\u0000"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "\":1,\"ok\":2}", "{\"ok\":2}");
    trim("Content", "{\"Content\\\\u0000\":1}",
         "{\"Content\\\\u0000\":1}");

    /* values of every kind, kept byte for byte or skipped whole */

    trim("r", "{\"ID\":4323372036854775807,"
         "\"r\":{\"s\":\"}{\\\"]\",\"t\":[1,{}]},"
         "\"n\":-1.5e+300,\"u\":\"\\u00e9\\n\",\"f\":false,\"z\":null}",
         "{\"ID\":4323372036854775807,\"n\":-1.5e+300,\"u\":\"\\u00e9\\n\","
         "\"f\":false,\"z\":null}");
    trim("Content", "{\"Content\":\"<a href=\\\"x\\\">,}</a>\",\"ok\":true}",
         "{\"ok\":true}");

    /* deep nesting is skipped by counting, never by recursion */

    {
        char    *deep, *want;
        size_t   depth = 100000;

        deep = malloc(2 * depth + 64);
        want = malloc(64);

        memcpy(deep, "{\"a\":", 5);
        memset(deep + 5, '[', depth);
        memset(deep + 5 + depth, ']', depth);
        strcpy(deep + 5 + 2 * depth, ",\"b\":{\"c\":[[[1]]],\"d\":2}}");
        strcpy(want, "{\"b\":");
        strcpy(want + 5, "{\"d\":2}}");

        trim("a b.c", deep, want);

        free(deep);
        free(want);
    }

    /* strict JSON only, as the receiver reads events */

    trim("a", "\xEF\xBB\xBF{\"a\":1,\"b\":2}", NULL);
    trim("a", "{\x01\"a\":1,\x02\"b\":2}", NULL);
    trim("a", "{\"a\":\"\\uZZZZ\",\"b\":2}", NULL);
    trim("b", "{\"a\":01,\"b\":2}", NULL);

    /* not one JSON object */

    trim("a", "[1]", NULL);
    trim("a", "{\"a\":1", NULL);
    trim("a", "{\"a\":1}x", NULL);
    trim("a", "{\"a\" 1}", NULL);
    trim("a", "{\"a\":1,}", NULL);
    trim("a", "{\"a\":\"1}", NULL);
    trim("a", "", NULL);

    /* paths */

    ok(ngx_http_postmark_path_parse("Geo.IP", 6, &path) == 0 && path.n == 2
       && path.len[0] == 3 && path.len[1] == 2, "Geo.IP is two names");
    ok(ngx_http_postmark_path_parse("a..b", 4, &path) != 0, "a..b refused");
    ok(ngx_http_postmark_path_parse(".a", 2, &path) != 0, ".a refused");
    ok(ngx_http_postmark_path_parse("a.", 2, &path) != 0, "a. refused");
    ok(ngx_http_postmark_path_parse("a.b.c.d.e.f.g.h.i", 17, &path) != 0,
       "nine names refused");
    ok(ngx_http_postmark_path_parse("a\nb", 3, &path) != 0,
       "a line break refused");

    return done_testing();
}
