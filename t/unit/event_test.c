
/*
 * Unit tests of the event core (classification and filters), without
 * nginx.  Prints TAP; the first argument is the directory of the sample
 * payloads.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_postmark_event.h"
#include "tap.h"


static void event(ngx_http_postmark_event_t *ev, const char *json);


static int
streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }

    return strcmp(a, b) == 0;
}


static char *
slurp(const char *dir, const char *name, size_t *len)
{
    char   path[1024], *buf;
    long   size;
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s.json", dir, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        printf("Bail out! cannot open %s\n", path);
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(size);
    if (buf == NULL || fread(buf, 1, size, f) != (size_t) size) {
        printf("Bail out! cannot read %s\n", path);
        exit(1);
    }

    fclose(f);
    *len = size;

    return buf;
}


static void
test_samples(const char *dir)
{
    static const struct {
        const char  *file;
        const char  *record_type;
        unsigned     type;
        const char  *stream;
        const char  *tag;
        const char  *message_id;
        int          metadata;
    } cases[] = {
        { "bounce", "Bounce", NGX_HTTP_POSTMARK_BOUNCE, "outbound", "Test",
          "883953f4-6105-42a2-a16a-77a8eac79483", 1 },
        { "spam-complaint", "SpamComplaint",
          NGX_HTTP_POSTMARK_SPAM_COMPLAINT, "outbound", "Test",
          "00000000-0000-0000-0000-000000000000", 1 },
        { "delivery", "Delivery", NGX_HTTP_POSTMARK_DELIVERY, "outbound",
          "welcome-email", "883953f4-6105-42a2-a16a-77a8eac79483", 1 },
        { "open", "Open", NGX_HTTP_POSTMARK_OPEN, "outbound",
          "welcome-email", "883953f4-6105-42a2-a16a-77a8eac79483", 1 },
        { "click", "Click", NGX_HTTP_POSTMARK_CLICK, "outbound",
          "welcome-email", "00000000-0000-0000-0000-000000000000", 1 },
        { "subscription-change", "SubscriptionChange",
          NGX_HTTP_POSTMARK_SUBSCRIPTION_CHANGE, "outbound", "my-tag",
          "883953f4-6105-42a2-a16a-77a8eac79483", 1 },
        { "inbound", "Inbound", NGX_HTTP_POSTMARK_INBOUND, "inbound",
          "TestTag", "73e6d360-66eb-11e1-8e72-a8904824019b", 0 },
    };

    char                          *body;
    size_t                         len, i;
    ngx_http_postmark_event_t      ev;
    ngx_http_postmark_event_rc_e   rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        body = slurp(dir, cases[i].file, &len);

        rc = ngx_http_postmark_event_parse(body, len, &ev);

        ok(rc == NGX_HTTP_POSTMARK_EVENT_OK, "%s: parsed", cases[i].file);
        ok(streq(ev.record_type, cases[i].record_type)
           && ev.type == cases[i].type, "%s: named %s", cases[i].file,
           cases[i].record_type);
        ok(streq(ev.stream, cases[i].stream), "%s: stream %s",
           cases[i].file, cases[i].stream);
        ok(streq(ev.tag, cases[i].tag), "%s: tag %s", cases[i].file,
           cases[i].tag);
        ok(streq(ev.message_id, cases[i].message_id), "%s: MessageID",
           cases[i].file);
        ok(ev.metadata == cases[i].metadata, "%s: metadata %s",
           cases[i].file, cases[i].metadata ? "found" : "absent");

        ngx_http_postmark_event_free(&ev);
        ok(ev.mem == NULL, "%s: freed", cases[i].file);

        free(body);
    }
}


static void
parse_fails(const char *name, const char *body, size_t len,
    ngx_http_postmark_event_rc_e want, long offset)
{
    ngx_http_postmark_event_t      ev;
    ngx_http_postmark_event_rc_e   rc;

    rc = ngx_http_postmark_event_parse(body, len, &ev);

    ok(rc == want, "%s: %s", name, ngx_http_postmark_event_strerror(want));

    if (offset >= 0) {
        ok(ev.error_offset == (size_t) offset, "%s: error at byte %ld "
           "(got %zu)", name, offset, ev.error_offset);
    }

    ngx_http_postmark_event_free(&ev);
}


static void
test_errors(void)
{
    static const char  nul[] = "{\"RecordType\":\"Open\"}\0{}";

    parse_fails("empty", "", 0, NGX_HTTP_POSTMARK_EVENT_EMPTY, -1);
    parse_fails("not JSON", "Bounce", 6, NGX_HTTP_POSTMARK_EVENT_INVALID_JSON,
                0);
    parse_fails("truncated", "{\"RecordType\":\"Bou", 18,
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, -1);
    parse_fails("array", "[{}]", 4, NGX_HTTP_POSTMARK_EVENT_NOT_OBJECT, -1);
    parse_fails("string", "\"x\"", 3, NGX_HTTP_POSTMARK_EVENT_NOT_OBJECT, -1);
    parse_fails("two objects", "{} {}", 5,
                NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA, 3);
    parse_fails("NUL and more", nul, sizeof(nul) - 1,
                NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA, 21);
    parse_fails("control byte in a string", "{\"a\":\"x\001\"}", 10,
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, 7);
    parse_fails("DEL is fine, 0x1f is not", "{\"a\":\"\177\037\"}", 10,
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, 7);
    parse_fails("RecordType number", "{\"RecordType\":1}", 16,
                NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE, -1);
    parse_fails("RecordType null", "{\"RecordType\":null}", 19,
                NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE, -1);
    parse_fails("RecordType empty", "{\"RecordType\":\"\"}", 17,
                NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE, -1);

    /* the length bounds parsing: bytes after it are never looked at */
    parse_fails("length stops early", "{\"a\":1}garbage", 3,
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, -1);
}


static void
refused_for(const char *name, const char *json,
    ngx_http_postmark_event_rc_e want, const char *member, long offset)
{
    ngx_http_postmark_event_t      ev;
    ngx_http_postmark_event_rc_e   rc;

    rc = ngx_http_postmark_event_parse(json, strlen(json), &ev);

    ok(rc == want && streq(ev.member, member)
       && (offset < 0 || ev.error_offset == (size_t) offset),
       "%s: %s %s at %ld (got %d, %s, %zu)", name,
       ngx_http_postmark_event_strerror(want), member ? member : "",
       offset, rc, ev.member ? ev.member : "-", ev.error_offset);

    ok(ev.mem == NULL, "%s: nothing kept", name);
}


/*
 * What JSON parsers read differently from the filters is refused: the
 * destination would see another event than the one routed.
 */

/* "head", then "depth" arrays opened and closed, then "tail" */

static char *
nested(const char *head, size_t depth, const char *tail)
{
    char    *s;
    size_t   n;

    n = strlen(head);
    s = malloc(n + 2 * depth + strlen(tail) + 1);
    if (s == NULL) {
        printf("Bail out! no memory\n");
        exit(1);
    }

    memcpy(s, head, n);
    memset(s + n, '[', depth);
    memset(s + n + depth, ']', depth);
    strcpy(s + n + 2 * depth, tail);

    return s;
}


static void
test_ambiguous(void)
{
    char                       *deep;
    ngx_http_postmark_event_t   ev;

    refused_for("RecordType twice",
                "{\"RecordType\":\"Bounce\",\"RecordType\":\"Delivery\"}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "RecordType", 23);
    refused_for("RecordType twice, once escaped",
                "{\"RecordType\":\"Open\",\"Record\\u0054ype\":\"Click\"}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "RecordType", 21);
    refused_for("RecordType twice, once not a string",
                "{\"RecordType\":1,\"RecordType\":\"Open\"}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "RecordType", -1);
    refused_for("MessageStream twice",
                "{\"MessageStream\":\"a\",\"MessageStream\":\"b\"}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "MessageStream", -1);
    refused_for("Tag twice", "{\"Tag\":\"a\",\"x\":{},\"Tag\":\"b\"}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "Tag", -1);
    refused_for("Metadata twice",
                "{\"Metadata\":{},\"Metadata\":{\"a\":\"b\"}}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "Metadata", -1);
    refused_for("a Metadata key twice",
                "{\"Metadata\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "Metadata", 1);
    refused_for("a Metadata key twice, once escaped",
                "{\"Metadata\":{\"a\":\"1\",\"\\u0061\":\"3\"}}",
                NGX_HTTP_POSTMARK_EVENT_DUPLICATE, "Metadata", 1);
    refused_for("an escaped NUL in RecordType",
                "{\"RecordType\":\"Bounce\\u0000Delivery\"}",
                NGX_HTTP_POSTMARK_EVENT_NUL, "RecordType", 15);
    refused_for("an escaped NUL in Tag", "{\"Tag\":\"a\\u0000\"}",
                NGX_HTTP_POSTMARK_EVENT_NUL, "Tag", 8);
    refused_for("an escaped NUL in MessageStream",
                "{\"MessageStream\":\"\\u0000\"}",
                NGX_HTTP_POSTMARK_EVENT_NUL, "MessageStream", -1);
    refused_for("a NUL after a member's name, which C parsers cut",
                "{\"Tag\":\"x\",\"MessageStream\\u0000ype\":\"e\"}",
                NGX_HTTP_POSTMARK_EVENT_NUL, "MessageStream", 11);
    refused_for("a long name that C parsers cut to a member's",
                "{\"MessageStream\\u0000"
                "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
                "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
                "\":\"0y\"}",
                NGX_HTTP_POSTMARK_EVENT_NUL, "MessageStream", 1);
    refused_for("an escaped NUL in a Metadata key",
                "{\"Metadata\":{\"a\\u0000b\":\"1\"}}",
                NGX_HTTP_POSTMARK_EVENT_NUL, "Metadata", 1);
    refused_for("an escaped NUL in a Metadata value",
                "{\"Metadata\":{\"a\":\"1\\u0000\"}}",
                NGX_HTTP_POSTMARK_EVENT_NUL, "Metadata", 1);
    refused_for("a byte-order mark", "\xEF\xBB\xBF{\"RecordType\":\"Open\"}",
                NGX_HTTP_POSTMARK_EVENT_BOM, NULL, 0);
    refused_for("\\uZZZZ", "{\"RecordType\":\"Open\",\"a\":\"\\uZZZZ\"}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 26);
    refused_for("\\u00zz", "{\"Tag\":\"\\u00zz\"}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 8);
    refused_for("invalid UTF-8", "{\"Tag\":\"\xff\"}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 8);

    deep = nested("{\"a\":", 1000, "}");
    refused_for("1001 levels", deep, NGX_HTTP_POSTMARK_EVENT_TOO_DEEP,
                NULL, 5 + 999);
    free(deep);

    /*
     * One pass finds the members and checks the syntax: what is wrong
     * with a body that is not JSON is that, wherever the walk stopped
     */

    refused_for("a member twice, then a bad byte",
                "{\"Tag\":\"a\",\"Tag\":\"b\",\"x\":tru}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 28);
    refused_for("a NUL in a member, then two objects",
                "{\"Tag\":\"\\u0000\"} {}",
                NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA, NULL, 17);
    refused_for("a Metadata key twice, then no end",
                "{\"Metadata\":{\"a\":1,\"a\":2},\"b\":",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 30);
    refused_for("no colon", "{\"Tag\" \"a\"}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 7);
    refused_for("no comma in Metadata", "{\"Metadata\":{\"a\":1 \"b\":2}}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 19);
    refused_for("a bad literal in Metadata", "{\"Metadata\":{\"a\":nul}}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, -1);
    refused_for("a trailing comma", "{\"Tag\":\"a\",}",
                NGX_HTTP_POSTMARK_EVENT_INVALID_JSON, NULL, 11);

    /* Metadata is the second level, its values' arrays the third */

    deep = nested("{\"Metadata\":{\"a\":", 998, "}}");
    event(&ev, deep);
    ok(ev.nmeta == 1 && ev.meta[0].type == NGX_HTTP_POSTMARK_META_OTHER,
       "1000 levels through Metadata");
    ngx_http_postmark_event_free(&ev);
    free(deep);

    deep = nested("{\"Metadata\":{\"a\":", 999, "}}");
    refused_for("1001 levels through Metadata", deep,
                NGX_HTTP_POSTMARK_EVENT_TOO_DEEP, NULL, 17 + 998);
    free(deep);

    /* what is not ambiguous is accepted */

    event(&ev, "{\"RecordType\":\"Open\",\"Tag\":\"\\ud800\","
               "\"MessageID\":\"a\",\"MessageID\":\"b\","
               "\"Other\":1,\"Other\":2,\"Other\\u0000Tag\":3,"
               "\"Tag\\\\u0000\":4,"
               "\"x\":{\"RecordType\":\"Bounce\"},"
               "\"Metadata\":{\"k\":{\"k\":1,\"k\":2}}}");
    ok(ev.type == NGX_HTTP_POSTMARK_OPEN && streq(ev.tag, "\xef\xbf\xbd")
       && streq(ev.message_id, "a") && ev.nmeta == 1,
       "a lone surrogate, members nobody routes on repeated or with a NUL, "
       "nested names");
    ngx_http_postmark_event_free(&ev);

    event(&ev, "{\"Record\\u0054ype\":\"Cl\\u0069ck\",\"T\\u0061g\":"
               "\"caf\\u00e9\",\"Metadata\":{\"\\u0061\":\"\\u0062\"}}");
    ok(ev.type == NGX_HTTP_POSTMARK_CLICK && streq(ev.tag, "caf\xc3\xa9")
       && ev.nmeta == 1 && streq(ev.meta[0].key, "a")
       && streq(ev.meta[0].value, "b"),
       "escaped names and values are read as JSON parsers read them");
    ngx_http_postmark_event_free(&ev);
}


static void
event(ngx_http_postmark_event_t *ev, const char *json)
{
    if (ngx_http_postmark_event_parse(json, strlen(json), ev)
        != NGX_HTTP_POSTMARK_EVENT_OK)
    {
        printf("Bail out! cannot parse %s\n", json);
        exit(1);
    }
}


/* Metadata of any size: a few members on the stack, more on the heap */

static void
test_metadata_sizes(void)
{
    char                       json[8192], *p;
    size_t                     i, n, sizes[] = { 0, 1, 16, 17, 33, 200 };
    ngx_http_postmark_event_t  ev;

    for (n = 0; n < sizeof(sizes) / sizeof(sizes[0]); n++) {
        p = json + sprintf(json, "{\"RecordType\":\"Open\",\"Metadata\":{");

        for (i = 0; i < sizes[n]; i++) {
            p += sprintf(p, "%s\"k%zu\":\"v%zu\"", i ? "," : "", i, i);
        }

        strcpy(p, "}}");

        event(&ev, json);

        for (i = 0; i < ev.nmeta; i++) {
            if (strcmp(ev.meta[i].value + 1, ev.meta[i].key + 1) != 0) {
                break;
            }
        }

        ok(ev.metadata && ev.nmeta == sizes[n] && i == ev.nmeta,
           "Metadata with %zu members, each with its own value", sizes[n]);
        ngx_http_postmark_event_free(&ev);
    }
}


static void
test_types(void)
{
    ngx_http_postmark_event_t  ev;

    event(&ev, "{\"RecordType\":\"InboundError\",\"Tag\":\"x\"}  \n");
    ok(ev.type == NGX_HTTP_POSTMARK_OTHER
       && streq(ev.record_type, "InboundError"),
       "an unknown RecordType is kept, typed as other");
    ngx_http_postmark_event_free(&ev);

    event(&ev, "{\"RecordType\":\"Inbound\"}");
    ok(ev.type == NGX_HTTP_POSTMARK_INBOUND, "an explicit Inbound");
    ngx_http_postmark_event_free(&ev);

    event(&ev, "{\"MessageStream\":5,\"Tag\":null,\"Metadata\":[1]}");
    ok(ev.stream == NULL && ev.tag == NULL && !ev.metadata,
       "fields of the wrong type count as absent");
    ngx_http_postmark_event_free(&ev);

    ok(ngx_http_postmark_event_type("Bounce", 0) == NGX_HTTP_POSTMARK_BOUNCE,
       "type by name");
    ok(ngx_http_postmark_event_type("bounce", 0) == 0,
       "type names are case-sensitive");
    ok(ngx_http_postmark_event_type("bounce", 1) == NGX_HTTP_POSTMARK_BOUNCE,
       "unless asked otherwise");
    ok(ngx_http_postmark_event_type("Other", 1) == 0, "no type \"Other\"");
}


static void
test_filters(void)
{
    static const char  *outbound[] = { "outbound", "broadcast" };
    static const char  *tags[] = { "welcome" };
    static const char  *keys[] = { "campaign", "campaign", "region" };
    static const char  *values[] = { "spring", "summer", "eu" };
    static const char  *num_keys[] = { "user_id", "vip", "ratio" };
    static const char  *num_values[] = { "43", "true", "0.5" };

    ngx_http_postmark_filter_t  f;
    ngx_http_postmark_event_t   ev;

    event(&ev, "{\"RecordType\":\"Open\",\"MessageStream\":\"outbound\","
               "\"Tag\":\"welcome\",\"Metadata\":{\"campaign\":\"summer\","
               "\"region\":\"eu\",\"user_id\":43,\"vip\":true,"
               "\"ratio\":0.5}}");

    memset(&f, 0, sizeof(f));
    ok(ngx_http_postmark_filter_match(&f, &ev), "an empty filter matches");

    f.types = NGX_HTTP_POSTMARK_OPEN | NGX_HTTP_POSTMARK_CLICK;
    ok(ngx_http_postmark_filter_match(&f, &ev), "type in the list");
    f.types = NGX_HTTP_POSTMARK_BOUNCE;
    ok(!ngx_http_postmark_filter_match(&f, &ev), "type not in the list");
    f.types = 0;

    f.streams.values = outbound;
    f.streams.n = 2;
    ok(ngx_http_postmark_filter_match(&f, &ev), "stream in the list");
    f.streams.n = 0;

    f.streams.values = outbound + 1;
    f.streams.n = 1;
    ok(!ngx_http_postmark_filter_match(&f, &ev), "stream not in the list");
    f.streams.n = 0;

    f.tags.values = tags;
    f.tags.n = 1;
    ok(ngx_http_postmark_filter_match(&f, &ev), "tag in the list");
    f.tags.n = 0;

    f.meta_keys = keys;
    f.meta_values = values;
    f.nmeta = 2;
    ok(ngx_http_postmark_filter_match(&f, &ev),
       "pairs of one key are alternatives");
    f.nmeta = 1;
    ok(!ngx_http_postmark_filter_match(&f, &ev), "a different value");

    values[2] = "us";
    f.nmeta = 3;
    ok(!ngx_http_postmark_filter_match(&f, &ev),
       "pairs of different keys must all match");
    values[2] = "eu";
    ok(ngx_http_postmark_filter_match(&f, &ev), "and do");

    f.meta_keys = num_keys;
    f.meta_values = num_values;
    f.nmeta = 3;
    ok(ngx_http_postmark_filter_match(&f, &ev),
       "numbers and booleans match their text");

    f.types = NGX_HTTP_POSTMARK_OPEN;
    f.meta_keys = keys;
    f.meta_values = values;
    f.tags.n = 1;
    f.streams.values = outbound;
    f.streams.n = 1;
    ok(ngx_http_postmark_filter_match(&f, &ev), "every field at once");

    ngx_http_postmark_event_free(&ev);

    event(&ev, "{\"RecordType\":\"Open\"}");
    ok(!ngx_http_postmark_filter_match(&f, &ev),
       "an event without stream, tag or metadata misses such filters");
    ngx_http_postmark_event_free(&ev);
}


int
main(int argc, char **argv)
{
    if (argc < 2) {
        printf("Bail out! usage: event_test PAYLOAD_DIR\n");
        return 1;
    }

    test_samples(argv[1]);
    test_errors();
    test_types();
    test_ambiguous();
    test_metadata_sizes();
    test_filters();

    return done_testing();
}
