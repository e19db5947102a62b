
/*
 * Unit tests of the spool's record core: records read back as written;
 * torn records (every length short of whole), damaged bytes and garbage
 * are skipped and reading goes on with the next record; zeros after the
 * records are room, not damage; done marks leave only the deliveries
 * still to make.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_postmark_record.h"
#include "tap.h"


#define BUF_MAX  8192


static size_t
put_delivery(unsigned char *buf, size_t at, const char *client,
    const char *id, const char *body)
{
    ngx_http_postmark_record_t  rec;

    memset(&rec, 0, sizeof(rec));

    rec.type = NGX_HTTP_POSTMARK_RECORD_DELIVERY;
    rec.created = 1795000000123ULL;
    rec.client = client;
    rec.client_len = strlen(client);
    rec.dest = "https://hooks.example/postmark";
    rec.dest_len = strlen(rec.dest);
    rec.id = id;
    rec.id_len = strlen(id);
    rec.event = "Bounce";
    rec.event_len = 6;
    rec.body = body;
    rec.body_len = strlen(body);

    ngx_http_postmark_record_write(buf + at, &rec);

    return at + ngx_http_postmark_record_size(&rec);
}


static size_t
put_done(unsigned char *buf, size_t at, uint64_t offset)
{
    ngx_http_postmark_record_t  rec;

    memset(&rec, 0, sizeof(rec));

    rec.type = NGX_HTTP_POSTMARK_RECORD_DONE;
    rec.done = offset;

    ngx_http_postmark_record_write(buf + at, &rec);

    return at + ngx_http_postmark_record_size(&rec);
}


/* where the last segment read ends, its room left out */
static size_t  written;


/* the ids of the pending deliveries, space-separated */

static const char *
pending_ids(const unsigned char *buf, size_t len, size_t *skipped,
    size_t *damaged)
{
    long                         n, i;
    static char                  ids[BUF_MAX];
    ngx_http_postmark_record_t  *rec;

    n = ngx_http_postmark_record_pending(buf, len, &rec, skipped, damaged,
                                         &written);

    ids[0] = '\0';

    for (i = 0; i < n; i++) {
        if (i) {
            strcat(ids, " ");
        }

        strncat(ids, rec[i].id, rec[i].id_len);
    }

    free(rec);

    return n < 0 ? "(no memory)" : ids;
}


static void
test_round_trip(void)
{
    size_t                         pos, skipped, end;
    unsigned char                  buf[BUF_MAX];
    ngx_http_postmark_record_t     rec;
    ngx_http_postmark_record_rc_e  rc;

    end = put_delivery(buf, 0, "acme", "msg_1", "{\"RecordType\":\"Bounce\"}");
    end = put_done(buf, end, 0);

    pos = 0;
    rc = ngx_http_postmark_record_next(buf, end, &pos, &rec, &skipped);

    ok(rc == NGX_HTTP_POSTMARK_RECORD_OK
       && rec.type == NGX_HTTP_POSTMARK_RECORD_DELIVERY
       && rec.offset == 0 && rec.created == 1795000000123ULL
       && rec.client_len == 4 && memcmp(rec.client, "acme", 4) == 0
       && rec.dest_len == 30
       && memcmp(rec.dest, "https://hooks.example/postmark", 30) == 0
       && rec.id_len == 5 && memcmp(rec.id, "msg_1", 5) == 0
       && rec.event_len == 6 && memcmp(rec.event, "Bounce", 6) == 0
       && rec.body_len == 23
       && memcmp(rec.body, "{\"RecordType\":\"Bounce\"}", 23) == 0,
       "a delivery reads back as written");

    ok(rec.length == NGX_HTTP_POSTMARK_RECORD_HEADER + 4 + 30 + 5 + 6 + 23
       && pos == rec.length, "its length covers header and fields");

    rc = ngx_http_postmark_record_next(buf, end, &pos, &rec, &skipped);

    ok(rc == NGX_HTTP_POSTMARK_RECORD_OK
       && rec.type == NGX_HTTP_POSTMARK_RECORD_DONE && rec.done == 0
       && rec.length == NGX_HTTP_POSTMARK_RECORD_DONE_LEN,
       "a done mark reads back as written");

    rc = ngx_http_postmark_record_next(buf, end, &pos, &rec, &skipped);

    ok(rc == NGX_HTTP_POSTMARK_RECORD_END, "then the end");

    /* an empty body and the longest names */

    memset(&rec, 0, sizeof(rec));
    rec.type = NGX_HTTP_POSTMARK_RECORD_DELIVERY;
    rec.client = "c";
    rec.client_len = 1;
    rec.dest = (char *) malloc(NGX_HTTP_POSTMARK_RECORD_NAME_MAX);
    memset((char *) rec.dest, 'd', NGX_HTTP_POSTMARK_RECORD_NAME_MAX);
    rec.dest_len = NGX_HTTP_POSTMARK_RECORD_NAME_MAX;

    {
        char           *dest;
        size_t          size;
        unsigned char  *big;

        dest = (char *) rec.dest;

        size = ngx_http_postmark_record_size(&rec);
        big = malloc(size);
        ngx_http_postmark_record_write(big, &rec);

        pos = 0;
        rc = ngx_http_postmark_record_next(big, size, &pos, &rec, &skipped);

        ok(rc == NGX_HTTP_POSTMARK_RECORD_OK
           && rec.dest_len == NGX_HTTP_POSTMARK_RECORD_NAME_MAX
           && rec.body_len == 0 && pos == size,
           "the longest destination and an empty body");

        free(big);
        free(dest);
    }
}


/*
 * A record cut at every length, alone and with records after it.  The
 * "PMSP" in its body counts as a second place of damage once it is in.
 */

static void
test_torn(void)
{
    int            all_tail, all_middle;
    size_t         one, two, cut, end, skipped, damaged;
    const char    *ids;
    unsigned char  whole[BUF_MAX], buf[BUF_MAX];

    one = put_delivery(whole, 0, "acme", "msg_1", "{\"a\":1}");
    two = put_delivery(whole, one, "acme", "msg_2", "{\"b\":\"PMSP\"}");

    all_tail = 1;
    all_middle = 1;

    for (cut = one + 1; cut < two; cut++) {

        /* torn at the end of the segment, as by a crash */

        memcpy(buf, whole, cut);
        ids = pending_ids(buf, cut, &skipped, &damaged);

        if (strcmp(ids, "msg_1") != 0 || skipped != cut - one
            || damaged == 0)
        {
            all_tail = 0;
            ok(0, "torn at byte %zu of %zu: got \"%s\", skipped %zu",
               cut - one, two - one, ids, skipped);
        }

        /* and with writes after it, as when a segment is adopted */

        end = put_delivery(buf, cut, "acme", "msg_3", "{\"c\":3}");
        end = put_done(buf, end, 0);
        ids = pending_ids(buf, end, &skipped, &damaged);

        if (strcmp(ids, "msg_3") != 0 || skipped != cut - one
            || damaged == 0)
        {
            all_middle = 0;
            ok(0, "torn at byte %zu, then more: got \"%s\", skipped %zu",
               cut - one, ids, skipped);
        }
    }

    ok(all_tail, "a record torn at any of its %zu bytes is skipped",
       two - one);
    ok(all_middle, "and the records after it are read");
}


/* any one damaged byte fails the record, and only that record */

static void
test_damaged(void)
{
    int            all;
    size_t         one, two, end, i, skipped, damaged;
    const char    *ids;
    unsigned char  whole[BUF_MAX], buf[BUF_MAX];

    one = put_delivery(whole, 0, "acme", "msg_1", "{\"a\":1}");
    two = put_delivery(whole, one, "acme", "msg_2", "{\"b\":2}");
    end = put_delivery(whole, two, "acme", "msg_3", "{\"c\":3}");

    all = 1;

    for (i = one; i < two; i++) {
        memcpy(buf, whole, end);
        buf[i] ^= 0x20;

        ids = pending_ids(buf, end, &skipped, &damaged);

        if (strcmp(ids, "msg_1 msg_3") != 0 || damaged != 1
            || skipped != two - one)
        {
            all = 0;
            ok(0, "byte %zu damaged: got \"%s\", skipped %zu in %zu",
               i - one, ids, skipped, damaged);
        }
    }

    ok(all, "a damaged byte anywhere in a record skips that record only");

    /* garbage before, between and after records */

    memcpy(buf, "garbage", 7);
    end = put_delivery(buf, 7, "acme", "msg_1", "{}");
    memcpy(buf + end, "PMSPxx", 6);
    end = put_delivery(buf, end + 6, "acme", "msg_2", "{}");
    memcpy(buf + end, "PMS", 3);
    end += 3;

    ids = pending_ids(buf, end, &skipped, &damaged);

    ok(strcmp(ids, "msg_1 msg_2") == 0 && skipped == 7 + 6 + 3
       && damaged == 3, "garbage around records is skipped (got \"%s\", "
       "%zu bytes in %zu places)", ids, skipped, damaged);

    ids = pending_ids(buf, 0, &skipped, &damaged);

    ok(strcmp(ids, "") == 0 && skipped == 0 && damaged == 0,
       "an empty segment has nothing pending");

    /* a length beyond the buffer, or too short to be a record */

    one = put_delivery(buf, 0, "acme", "msg_1", "{}");
    buf[4] = 0xff;
    buf[5] = 0xff;
    ids = pending_ids(buf, one, &skipped, &damaged);

    ok(strcmp(ids, "") == 0 && skipped == one,
       "a length beyond the segment is damage");

    one = put_done(buf, 0, 0);
    buf[4] = 8;
    ids = pending_ids(buf, one, &skipped, &damaged);

    ok(skipped == one, "a length too short for a record is damage");
}


static void
test_pending(void)
{
    size_t         second, third, end, skipped, damaged;
    const char    *ids;
    unsigned char  buf[BUF_MAX];

    second = put_delivery(buf, 0, "acme", "msg_1", "{}");
    third = put_delivery(buf, second, "acme", "msg_2", "{}");
    end = put_delivery(buf, third, "globex", "msg_3", "{}");

    ids = pending_ids(buf, end, &skipped, &damaged);
    ok(strcmp(ids, "msg_1 msg_2 msg_3") == 0, "all pending, in order");

    end = put_done(buf, end, second);
    ids = pending_ids(buf, end, &skipped, &damaged);
    ok(strcmp(ids, "msg_1 msg_3") == 0, "a done mark takes its delivery");

    end = put_done(buf, end, 0);
    end = put_done(buf, end, third);
    ids = pending_ids(buf, end, &skipped, &damaged);
    ok(strcmp(ids, "") == 0 && skipped == 0, "all done");

    end = put_done(buf, third, 7);
    end = put_done(buf, end, third);
    ids = pending_ids(buf, end, &skipped, &damaged);
    ok(strcmp(ids, "msg_1 msg_2") == 0,
       "a done mark for no delivery changes nothing");

    end = put_done(buf, end, second);
    end = put_done(buf, end, second);
    ids = pending_ids(buf, end, &skipped, &damaged);
    ok(strcmp(ids, "msg_1") == 0, "a repeated done mark is harmless");
}


/* the room the spool writes ahead of its records */

static void
test_room(void)
{
    size_t         one, two, end, i, skipped, damaged;
    const char    *ids;
    unsigned char  whole[BUF_MAX], buf[BUF_MAX];

    one = put_delivery(whole, 0, "acme", "msg_1", "{\"a\":1}");
    two = put_delivery(whole, one, "acme", "msg_2", "{\"b\":2}");
    end = put_done(whole, two, 0);

    memcpy(buf, whole, end);
    memset(buf + end, 0, 4096);
    ids = pending_ids(buf, end + 4096, &skipped, &damaged);

    ok(strcmp(ids, "msg_2") == 0 && skipped == 0 && damaged == 0
       && written == end, "zeros after the records are room, not damage "
       "(got \"%s\", %zu bytes skipped, written to %zu of %zu)",
       ids, skipped, written, end);

    memset(buf, 0, 4096);
    ids = pending_ids(buf, 4096, &skipped, &damaged);

    ok(strcmp(ids, "") == 0 && skipped == 0 && written == 0,
       "a segment of room only has nothing pending");

    ids = pending_ids(buf, 1, &skipped, &damaged);

    ok(strcmp(ids, "") == 0 && skipped == 0 && written == 0,
       "nor one zero");

    /* a group torn by a crash, its room after it */

    memcpy(buf, whole, one + 40);
    memset(buf + one + 40, 0, 4096);
    ids = pending_ids(buf, one + 40 + 4096, &skipped, &damaged);

    ok(strcmp(ids, "msg_1") == 0 && damaged == 1 && skipped == 40
       && written == one + 40, "a record torn before room: its %zu bytes "
       "are damage, the room is not (got %zu, written to %zu)",
       (size_t) 40, skipped, written);

    /* fewer zeros than room may be the end of a torn record */

    memcpy(buf, whole, one + 40);
    memset(buf + one + 40, 0, 15);
    ids = pending_ids(buf, one + 55, &skipped, &damaged);

    ok(damaged == 1 && skipped == 55 && written == one + 55,
       "15 zeros after a torn record are its own (got %zu)", skipped);

    /* zeros in the middle are a hole: damage, and reading goes on */

    memcpy(buf, whole, one);
    memset(buf + one, 0, 100);
    memcpy(buf + one + 100, whole + one, two - one);
    ids = pending_ids(buf, two + 100, &skipped, &damaged);

    ok(strcmp(ids, "msg_1 msg_2") == 0 && damaged == 1 && skipped == 100
       && written == two + 100, "zeros between records are damage (got "
       "\"%s\", %zu bytes)", ids, skipped);

    /* done marks written over the room are read */

    memcpy(buf, whole, two);
    memset(buf + two, 0, 4096);
    i = put_done(buf, two, one);
    ids = pending_ids(buf, two + 4096, &skipped, &damaged);

    ok(strcmp(ids, "msg_1") == 0 && skipped == 0 && written == i,
       "a done mark written over the room counts");
}


int
main(void)
{
    test_round_trip();
    test_torn();
    test_damaged();
    test_pending();
    test_room();

    return done_testing();
}
