
/*
 * Unit tests of the JSON scanner: what strict JSON accepts and refuses,
 * where a refusal points, nesting limits, and unescaping.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_postmark_json.h"
#include "tap.h"


/* the whole text is one value, and nothing after it but blanks */

static int
value(const char *text, size_t len, size_t depth_max, size_t *offset,
    int *too_deep)
{
    int                       rc;
    ngx_http_postmark_json_t  j;

    ngx_http_postmark_json_init(&j, text, len, depth_max);

    rc = ngx_http_postmark_json_value(&j);

    if (rc == 0) {
        ngx_http_postmark_json_blank(&j);
        rc = (j.p == j.end) ? 0 : -1;
    }

    *offset = ngx_http_postmark_json_offset(&j);
    *too_deep = j.too_deep;

    return rc;
}


static void
accepts(const char *text)
{
    int     deep = 0;
    size_t  offset = 0;

    ok(value(text, strlen(text), 0, &offset, &deep) == 0, "accepts %s",
       text);
}


static void
refuses(const char *text, size_t len, long at)
{
    int     deep = 0;
    size_t  offset = 0;

    if (len == 0) {
        len = strlen(text);
    }

    ok(value(text, len, 0, &offset, &deep) != 0
       && (at < 0 || offset == (size_t) at),
       "refuses %s at byte %ld (stopped at %zu)", text, at, offset);
}


static void
unescapes(const char *raw, const char *want, size_t want_len, int want_nul)
{
    int     nul;
    char    out[256];
    size_t  n;

    n = ngx_http_postmark_json_unescape(raw, strlen(raw), out, &nul);

    ok(n == want_len && memcmp(out, want, n) == 0 && nul == want_nul
       && n <= strlen(raw), "unescapes %s", raw);
}


static void
test_values(void)
{
    accepts("{}");
    accepts("[]");
    accepts(" { \"a\" : [ 1 , 2.5 , -0 , 1e10 , -1.5E-3 , true , false , "
            "null , \"x\" , { } , [ ] ] } ");
    accepts("\"\"");
    accepts("0");
    accepts("4323372036854775807");
    accepts("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"");
    accepts("\"\\ud800\"");                     /* a lone surrogate */
    accepts("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    accepts("\"\x7f\"");                        /* DEL is no control */
    accepts("{\"a\":1,\"a\":2}");               /* names may repeat */
    accepts("\t\r\n{}\n");

    refuses("", 0, 0);
    refuses(" ", 0, 1);
    refuses("{", 0, 1);
    refuses("{\"a\"}", 0, 4);
    refuses("{\"a\":}", 0, 5);
    refuses("{\"a\":1,}", 0, 7);
    refuses("[1,]", 0, 3);
    refuses("[1 2]", 0, 3);
    refuses("{'a':1}", 0, 1);
    refuses("{a:1}", 0, 1);
    refuses("01", 0, 1);
    refuses("1.", 0, 2);
    refuses(".5", 0, 0);
    refuses("1e", 0, 2);
    refuses("+1", 0, 0);
    refuses("-", 0, 1);
    refuses("NaN", 0, 0);
    refuses("Infinity", 0, 0);
    refuses("tru", 0, 3);
    refuses("nul", 0, 3);
    refuses("True", 0, 0);

    /* escapes cJSON lets through, and every destination's parser refuses */

    refuses("\"\\uZZZZ\"", 0, 1);
    refuses("\"\\u00zz\"", 0, 1);
    refuses("\"\\u12\"", 0, 1);
    refuses("\"\\x41\"", 0, 1);
    refuses("\"\\'\"", 0, 1);
    refuses("\"\\", 0, 1);

    /* control bytes and invalid UTF-8 in strings, other blanks outside */

    refuses("\"a\nb\"", 0, 2);
    refuses("\"a\x01\"", 0, 2);
    refuses("\"a\0b\"", 5, 2);
    refuses("\f{}", 0, 0);
    refuses("{}\v", 0, 2);
    refuses("\xEF\xBB\xBF{}", 0, 0);              /* a byte-order mark */
    refuses("\"\xff\"", 0, 1);
    refuses("\"\xc0\xaf\"", 0, 1);                /* overlong "/" */
    refuses("\"\xe0\x80\xaf\"", 0, 2);            /* overlong */
    refuses("\"\xed\xa0\x80\"", 0, 2);            /* a UTF-8 surrogate */
    refuses("\"\xf4\x90\x80\x80\"", 0, 2);        /* past U+10FFFF */
    refuses("\"\xc3\"", 0, 2);                    /* cut */
    refuses("\"\xe2\x82\"", 0, 3);
    refuses("\"\x80\"", 0, 1);

    /* the length bounds reading: bytes after it are never looked at */

    refuses("{\"a\":1}", 6, 6);
}


static void
test_depth(void)
{
    int     deep = 0;
    char   *text;
    size_t  depth, offset;

    depth = 1000;
    text = malloc(2 * depth + 1);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);

    ok(value(text, 2 * depth, 1000, &offset, &deep) == 0,
       "1000 levels are within a limit of 1000");
    ok(value(text, 2 * depth, 999, &offset, &deep) != 0 && deep
       && offset == 999, "but not within 999, refused where it got too deep");

    free(text);

    /* deep nesting costs memory, not the C stack */

    depth = 200000;
    text = malloc(2 * depth + 8);
    memcpy(text, "{\"a\":", 5);
    memset(text + 5, '[', depth);
    memset(text + 5 + depth, ']', depth);
    text[5 + 2 * depth] = '}';

    ok(value(text, 2 * depth + 6, 0, &offset, &deep) == 0,
       "200000 levels without a limit");

    text[5 + 2 * depth - 1] = '}';
    ok(value(text, 2 * depth + 6, 0, &offset, &deep) != 0 && !deep
       && offset == 5 + 2 * depth - 1, "a mismatched bracket deep down");

    free(text);
}


static void
test_unescape(void)
{
    unescapes("plain", "plain", 5, 0);
    unescapes("a\\\"b\\\\c\\/d", "a\"b\\c/d", 7, 0);
    unescapes("\\b\\f\\n\\r\\t", "\b\f\n\r\t", 5, 0);
    unescapes("caf\\u00e9", "caf\xc3\xa9", 5, 0);
    unescapes("\\u20AC", "\xe2\x82\xac", 3, 0);
    unescapes("\\ud83d\\ude00", "\xf0\x9f\x98\x80", 4, 0);
    unescapes("\\ud800x", "\xef\xbf\xbdx", 4, 0);
    unescapes("\\udc00", "\xef\xbf\xbd", 3, 0);
    unescapes("\\ud800\\u0041", "\xef\xbf\xbd" "A", 4, 0);
    unescapes("Bounce\\u0000Delivery", "Bounce\0Delivery", 15, 1);
}


/*
 * One byte among plain text, at every place of the words the scanner
 * reads eight at a time: where the string stops, and why.
 */

static size_t
string_end(const char *text, size_t len, int *rc)
{
    int                       escaped;
    ngx_http_postmark_json_t  j;

    ngx_http_postmark_json_init(&j, text, len, 0);
    *rc = ngx_http_postmark_json_string(&j, &escaped);

    return ngx_http_postmark_json_offset(&j);
}


static void
test_one_byte(void)
{
    int            rc, good;
    char           text[24];
    size_t         at, end, i;
    unsigned char  c;

    static const unsigned char  stops[] = {
        0x00, 0x01, 0x1f, '"', 0x80, 0xbf, 0xc0, 0xff
    };
    static const unsigned char  plain[] = { 0x20, 0x21, 0x5b, 0x5d, 0x7f };

    for (at = 1; at < 21; at++) {
        good = 1;

        for (i = 0; i < sizeof(stops) + sizeof(plain); i++) {
            c = i < sizeof(stops) ? stops[i] : plain[i - sizeof(stops)];

            memset(text, 'x', sizeof(text));
            text[0] = '"';
            text[at] = (char) c;
            text[22] = '"';

            end = string_end(text, 23, &rc);

            if (c == '"') {
                good &= (rc == 0 && end == at + 1);

            } else if (i < sizeof(stops)) {
                good &= (rc != 0 && end == at);

            } else {
                good &= (rc == 0 && end == 23);
            }
        }

        memcpy(text + at, "\\n", 2);
        text[22] = '"';
        end = string_end(text, 23, &rc);
        good &= (rc == 0 && end == 23);

        ok(good, "a byte at %zu of a string: stops where it should", at);
    }
}


int
main(void)
{
    test_values();
    test_depth();
    test_unescape();
    test_one_byte();

    return done_testing();
}
