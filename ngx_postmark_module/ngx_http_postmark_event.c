
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_postmark_event.h"
#include "ngx_http_postmark_json.h"


/* the top-level members the module reads */

#define NGX_HTTP_POSTMARK_RECORD_TYPE  0
#define NGX_HTTP_POSTMARK_STREAM       1
#define NGX_HTTP_POSTMARK_TAG          2
#define NGX_HTTP_POSTMARK_MESSAGE_ID   3
#define NGX_HTTP_POSTMARK_METADATA     4
#define NGX_HTTP_POSTMARK_MEMBERS      5

#define NGX_HTTP_POSTMARK_NAME_MAX     64
#define NGX_HTTP_POSTMARK_PAIRS        16


typedef struct {
    const char  *name;
    size_t       len;
} ngx_http_postmark_name_t;


/* a string's raw text, between its quotes */

typedef struct {
    const char  *raw;
    size_t       len;
    int          escaped;
} ngx_http_postmark_span_t;


typedef struct {
    ngx_http_postmark_span_t   key;
    ngx_http_postmark_span_t   value;
    int                        type;
} ngx_http_postmark_pair_t;


typedef struct {
    ngx_http_postmark_json_t   json;

    /* the members found, and where */
    int                        seen[NGX_HTTP_POSTMARK_MEMBERS];
    int                        string[NGX_HTTP_POSTMARK_MEMBERS];
    ngx_http_postmark_span_t   span[NGX_HTTP_POSTMARK_MEMBERS];
    size_t                     meta_offset;

    /* Metadata's members: a few, on the stack */
    ngx_http_postmark_pair_t  *pairs;
    size_t                     npairs;
    size_t                     cap;
    ngx_http_postmark_pair_t   local[NGX_HTTP_POSTMARK_PAIRS];
} ngx_http_postmark_walk_t;


typedef struct {
    const char  *name;
    unsigned     type;
} ngx_http_postmark_event_type_t;


/* what the walk does with each member of an object */

typedef ngx_http_postmark_event_rc_e (*ngx_http_postmark_member_pt)(
    ngx_http_postmark_walk_t *w, ngx_http_postmark_event_t *ev);


static ngx_http_postmark_event_rc_e ngx_http_postmark_event_walk(
    ngx_http_postmark_walk_t *w, ngx_http_postmark_event_t *ev);
static ngx_http_postmark_event_rc_e ngx_http_postmark_event_member(
    ngx_http_postmark_walk_t *w, ngx_http_postmark_event_t *ev);
static ngx_http_postmark_event_rc_e ngx_http_postmark_event_object(
    ngx_http_postmark_walk_t *w, ngx_http_postmark_event_t *ev,
    ngx_http_postmark_member_pt each);
static int ngx_http_postmark_event_key(ngx_http_postmark_json_t *j,
    ngx_http_postmark_span_t *key);
static ngx_http_postmark_event_rc_e ngx_http_postmark_event_skip(
    ngx_http_postmark_json_t *j);
static ngx_http_postmark_event_rc_e ngx_http_postmark_event_metadata(
    ngx_http_postmark_walk_t *w, ngx_http_postmark_event_t *ev);
static ngx_http_postmark_event_rc_e ngx_http_postmark_event_pair(
    ngx_http_postmark_walk_t *w, ngx_http_postmark_event_t *ev);
static ngx_http_postmark_event_rc_e ngx_http_postmark_event_keep(
    ngx_http_postmark_walk_t *w, ngx_http_postmark_event_t *ev);
static int ngx_http_postmark_key_is(const ngx_http_postmark_span_t *key);
static ngx_http_postmark_event_rc_e ngx_http_postmark_json_failed(
    ngx_http_postmark_json_t *j, ngx_http_postmark_event_t *ev);
static char *ngx_http_postmark_decode(const ngx_http_postmark_span_t *s,
    char **mem, int *nul);
static int ngx_http_postmark_meta_cmp(const void *one, const void *two);
static int ngx_http_postmark_list_has(const ngx_http_postmark_list_t *list,
    const char *value);
static int ngx_http_postmark_meta_equals(const ngx_http_postmark_meta_t *m,
    const char *value);


static const ngx_http_postmark_name_t  ngx_http_postmark_members[] = {
    { "RecordType", 10 },
    { "MessageStream", 13 },
    { "Tag", 3 },
    { "MessageID", 9 },
    { "Metadata", 8 }
};


static const ngx_http_postmark_event_type_t  ngx_http_postmark_types[] = {
    { "Bounce", NGX_HTTP_POSTMARK_BOUNCE },
    { "SpamComplaint", NGX_HTTP_POSTMARK_SPAM_COMPLAINT },
    { "Delivery", NGX_HTTP_POSTMARK_DELIVERY },
    { "Open", NGX_HTTP_POSTMARK_OPEN },
    { "Click", NGX_HTTP_POSTMARK_CLICK },
    { "SubscriptionChange", NGX_HTTP_POSTMARK_SUBSCRIPTION_CHANGE },
    { "Inbound", NGX_HTTP_POSTMARK_INBOUND },
    { NULL, 0 }
};


/*
 * One JSON object and nothing after it but blanks; a byte-order mark is
 * refused, as JSON.parse() refuses it.  Bodies are not terminated: no
 * byte past "len" is read.
 */

ngx_http_postmark_event_rc_e
ngx_http_postmark_json_object(const char *body, size_t len,
    size_t *error_offset)
{
    ngx_http_postmark_json_t      j;
    ngx_http_postmark_event_t     ev;
    ngx_http_postmark_event_rc_e  rc;

    *error_offset = 0;

    if (len == 0) {
        return NGX_HTTP_POSTMARK_EVENT_EMPTY;
    }

    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        return NGX_HTTP_POSTMARK_EVENT_BOM;
    }

    ngx_http_postmark_json_init(&j, body, len, NGX_HTTP_POSTMARK_JSON_DEPTH);
    ngx_http_postmark_json_blank(&j);

    rc = NGX_HTTP_POSTMARK_EVENT_OK;

    if (j.p == j.end || *j.p != '{') {
        rc = NGX_HTTP_POSTMARK_EVENT_NOT_OBJECT;
    }

    if (ngx_http_postmark_json_value(&j) != 0) {
        rc = ngx_http_postmark_json_failed(&j, &ev);
        *error_offset = ev.error_offset;
        return rc;
    }

    ngx_http_postmark_json_blank(&j);

    if (j.p != j.end) {
        *error_offset = ngx_http_postmark_json_offset(&j);
        return NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA;
    }

    return rc;
}


ngx_http_postmark_event_rc_e
ngx_http_postmark_event_parse(const char *body, size_t len,
    ngx_http_postmark_event_t *ev)
{
    size_t                         offset;
    ngx_http_postmark_walk_t       w;
    ngx_http_postmark_event_rc_e   rc, valid;

    memset(ev, 0, sizeof(ngx_http_postmark_event_t));
    memset(&w, 0, offsetof(ngx_http_postmark_walk_t, local));
    w.pairs = w.local;
    w.cap = NGX_HTTP_POSTMARK_PAIRS;

    /*
     * One pass: the walk checks what it crosses as it finds the members,
     * member values one level down from the top.  Where it stops, the
     * check of the whole body decides: a body that is not valid JSON is
     * refused as such, with the reason and the byte of that check, even
     * when the walk found something else wrong before its bad part.
     */

    ngx_http_postmark_json_init(&w.json, body, len,
                                NGX_HTTP_POSTMARK_JSON_DEPTH - 1);

    rc = ngx_http_postmark_event_walk(&w, ev);

    if (rc != NGX_HTTP_POSTMARK_EVENT_OK) {
        valid = ngx_http_postmark_json_object(body, len, &offset);

        if (valid != NGX_HTTP_POSTMARK_EVENT_OK) {
            rc = valid;
            ev->member = NULL;
            ev->error_offset = offset;
        }
    }

    if (rc == NGX_HTTP_POSTMARK_EVENT_OK) {
        rc = ngx_http_postmark_event_keep(&w, ev);
    }

    if (w.pairs != w.local) {
        free(w.pairs);
    }

    if (rc != NGX_HTTP_POSTMARK_EVENT_OK) {
        ngx_http_postmark_event_free(ev);
    }

    return rc;
}


/* the object, its members, and nothing after it but blanks */

static ngx_http_postmark_event_rc_e
ngx_http_postmark_event_walk(ngx_http_postmark_walk_t *w,
    ngx_http_postmark_event_t *ev)
{
    ngx_http_postmark_json_t      *j;
    ngx_http_postmark_event_rc_e   rc;

    j = &w->json;

    ngx_http_postmark_json_blank(j);

    if (j->p == j->end || *j->p != '{') {
        return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
    }

    rc = ngx_http_postmark_event_object(w, ev, ngx_http_postmark_event_member);
    if (rc != NGX_HTTP_POSTMARK_EVENT_OK) {
        return rc;
    }

    ngx_http_postmark_json_blank(j);

    return (j->p == j->end) ? NGX_HTTP_POSTMARK_EVENT_OK
                            : NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
}


/* an object's members, each to "each", from its "{" to past its "}" */

static ngx_http_postmark_event_rc_e
ngx_http_postmark_event_object(ngx_http_postmark_walk_t *w,
    ngx_http_postmark_event_t *ev, ngx_http_postmark_member_pt each)
{
    ngx_http_postmark_json_t      *j;
    ngx_http_postmark_event_rc_e   rc;

    j = &w->json;

    j->p++;
    ngx_http_postmark_json_blank(j);

    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return NGX_HTTP_POSTMARK_EVENT_OK;
    }

    for ( ;; ) {
        rc = each(w, ev);
        if (rc != NGX_HTTP_POSTMARK_EVENT_OK) {
            return rc;
        }

        ngx_http_postmark_json_blank(j);

        if (j->p == j->end) {
            return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
        }

        if (*j->p == '}') {
            j->p++;
            return NGX_HTTP_POSTMARK_EVENT_OK;
        }

        if (*j->p++ != ',') {
            return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
        }

        ngx_http_postmark_json_blank(j);
    }
}


/* a member's name and the colon after it: 0, or -1 when not there */

static int
ngx_http_postmark_event_key(ngx_http_postmark_json_t *j,
    ngx_http_postmark_span_t *key)
{
    key->raw = (const char *) j->p + 1;

    if (ngx_http_postmark_json_string(j, &key->escaped) != 0) {
        return -1;
    }

    key->len = (const char *) j->p - key->raw - 1;

    ngx_http_postmark_json_blank(j);

    if (j->p == j->end || *j->p != ':') {
        return -1;
    }

    j->p++;
    ngx_http_postmark_json_blank(j);

    return (j->p == j->end) ? -1 : 0;
}


static ngx_http_postmark_event_rc_e
ngx_http_postmark_event_skip(ngx_http_postmark_json_t *j)
{
    return (ngx_http_postmark_json_value(j) == 0)
           ? NGX_HTTP_POSTMARK_EVENT_OK : NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
}


/* one top-level member, at its name */

static ngx_http_postmark_event_rc_e
ngx_http_postmark_event_member(ngx_http_postmark_walk_t *w,
    ngx_http_postmark_event_t *ev)
{
    int                        m, escaped;
    size_t                     at;
    ngx_http_postmark_span_t   key, *span;
    ngx_http_postmark_json_t  *j;

    j = &w->json;
    at = ngx_http_postmark_json_offset(j);

    if (ngx_http_postmark_event_key(j, &key) != 0) {
        return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
    }

    m = ngx_http_postmark_key_is(&key);

    if (m >= NGX_HTTP_POSTMARK_MEMBERS) {
        ev->member = ngx_http_postmark_members[m - NGX_HTTP_POSTMARK_MEMBERS]
                     .name;
        ev->error_offset = at;
        return NGX_HTTP_POSTMARK_EVENT_NUL;
    }

    if (m < 0) {
        return ngx_http_postmark_event_skip(j);
    }

    /* JSON parsers disagree on which of two members counts */

    if (w->seen[m]) {
        if (m == NGX_HTTP_POSTMARK_MESSAGE_ID) {
            return ngx_http_postmark_event_skip(j);
        }

        ev->member = ngx_http_postmark_members[m].name;
        ev->error_offset = at;
        return NGX_HTTP_POSTMARK_EVENT_DUPLICATE;
    }

    w->seen[m] = 1;

    if (*j->p == '"') {
        span = &w->span[m];
        span->raw = (const char *) j->p + 1;

        if (ngx_http_postmark_json_string(j, &escaped) != 0) {
            return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
        }

        span->len = (const char *) j->p - span->raw - 1;
        span->escaped = escaped;
        w->string[m] = 1;

        return NGX_HTTP_POSTMARK_EVENT_OK;
    }

    if (m == NGX_HTTP_POSTMARK_METADATA && *j->p == '{') {
        w->meta_offset = at;
        ev->metadata = 1;
        return ngx_http_postmark_event_metadata(w, ev);
    }

    return ngx_http_postmark_event_skip(j);
}


/*
 * The members of Metadata, kept as spans until the walk is over; their
 * values are one level further down.
 */

static ngx_http_postmark_event_rc_e
ngx_http_postmark_event_metadata(ngx_http_postmark_walk_t *w,
    ngx_http_postmark_event_t *ev)
{
    ngx_http_postmark_event_rc_e  rc;

    w->json.depth_max--;
    rc = ngx_http_postmark_event_object(w, ev, ngx_http_postmark_event_pair);
    w->json.depth_max++;

    return rc;
}


static ngx_http_postmark_event_rc_e
ngx_http_postmark_event_pair(ngx_http_postmark_walk_t *w,
    ngx_http_postmark_event_t *ev)
{
    int                        escaped;
    size_t                     cap;
    ngx_http_postmark_pair_t  *pair, *more;
    ngx_http_postmark_json_t  *j;

    (void) ev;      /* a pair is the walk's until the walk is over */

    j = &w->json;

    if (w->npairs == w->cap) {
        cap = 2 * w->cap;

        more = realloc((w->pairs == w->local) ? NULL : w->pairs,
                       cap * sizeof(ngx_http_postmark_pair_t));
        if (more == NULL) {
            return NGX_HTTP_POSTMARK_EVENT_NO_MEMORY;
        }

        if (w->pairs == w->local) {
            memcpy(more, w->local, sizeof(w->local));
        }

        w->pairs = more;
        w->cap = cap;
    }

    pair = &w->pairs[w->npairs];

    if (ngx_http_postmark_event_key(j, &pair->key) != 0) {
        return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
    }

    pair->value.raw = (const char *) j->p;
    pair->value.escaped = 0;

    switch (*j->p) {

    case '"':
        pair->type = NGX_HTTP_POSTMARK_META_STRING;
        pair->value.raw++;

        if (ngx_http_postmark_json_string(j, &escaped) != 0) {
            return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
        }

        pair->value.escaped = escaped;
        pair->value.len = (const char *) j->p - pair->value.raw - 1;
        break;

    case 't':
    case 'f':
        pair->type = NGX_HTTP_POSTMARK_META_BOOLEAN;
        break;

    case '{':
    case '[':
    case 'n':
        pair->type = NGX_HTTP_POSTMARK_META_OTHER;
        break;

    default:
        pair->type = NGX_HTTP_POSTMARK_META_NUMBER;
    }

    if (pair->type != NGX_HTTP_POSTMARK_META_STRING) {
        if (ngx_http_postmark_json_value(j) != 0) {
            return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
        }

        pair->value.len = (pair->type == NGX_HTTP_POSTMARK_META_OTHER)
                          ? 0 : (size_t) ((const char *) j->p
                                          - pair->value.raw);
    }

    w->npairs++;

    return NGX_HTTP_POSTMARK_EVENT_OK;
}


/*
 * The members found are decoded into one allocation; what a filter reads
 * must not hold a NUL, which C strings, and so the filters, would cut.
 */

static ngx_http_postmark_event_rc_e
ngx_http_postmark_event_keep(ngx_http_postmark_walk_t *w,
    ngx_http_postmark_event_t *ev)
{
    int                        nul;
    char                      *mem, *s[NGX_HTTP_POSTMARK_MEMBERS];
    size_t                     i, size;
    ngx_http_postmark_meta_t  *m;

    size = w->npairs * sizeof(ngx_http_postmark_meta_t);

    for (i = 0; i < NGX_HTTP_POSTMARK_MEMBERS; i++) {
        size += w->span[i].len + 1;
    }

    for (i = 0; i < w->npairs; i++) {
        size += w->pairs[i].key.len + w->pairs[i].value.len + 2;
    }

    ev->mem = malloc(size);
    if (ev->mem == NULL) {
        return NGX_HTTP_POSTMARK_EVENT_NO_MEMORY;
    }

    ev->meta = ev->mem;
    mem = (char *) ev->mem + w->npairs * sizeof(ngx_http_postmark_meta_t);

    for (i = 0; i < NGX_HTTP_POSTMARK_MEMBERS; i++) {
        s[i] = w->string[i] ? ngx_http_postmark_decode(&w->span[i], &mem, &nul)
                            : NULL;

        if (s[i] && nul && i != NGX_HTTP_POSTMARK_MESSAGE_ID) {
            ev->member = ngx_http_postmark_members[i].name;
            ev->error_offset = w->span[i].raw - (const char *) w->json.start;
            return NGX_HTTP_POSTMARK_EVENT_NUL;
        }
    }

    if (!w->seen[NGX_HTTP_POSTMARK_RECORD_TYPE]) {

        /* Postmark's inbound webhook is the one event without a RecordType */

        ev->record_type = "Inbound";
        ev->type = NGX_HTTP_POSTMARK_INBOUND;

    } else if (s[NGX_HTTP_POSTMARK_RECORD_TYPE] == NULL
               || s[NGX_HTTP_POSTMARK_RECORD_TYPE][0] == '\0')
    {
        return NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE;

    } else {
        ev->record_type = s[NGX_HTTP_POSTMARK_RECORD_TYPE];
        ev->type = ngx_http_postmark_event_type(ev->record_type, 0);

        if (ev->type == 0) {
            ev->type = NGX_HTTP_POSTMARK_OTHER;
        }
    }

    ev->stream = s[NGX_HTTP_POSTMARK_STREAM];
    ev->tag = s[NGX_HTTP_POSTMARK_TAG];
    ev->message_id = s[NGX_HTTP_POSTMARK_MESSAGE_ID];

    for (i = 0; i < w->npairs; i++) {
        m = &ev->meta[i];

        m->key = ngx_http_postmark_decode(&w->pairs[i].key, &mem, &nul);
        m->type = w->pairs[i].type;
        m->value = NULL;

        if (nul) {
            goto nul;
        }

        if (m->type != NGX_HTTP_POSTMARK_META_OTHER) {
            m->value = ngx_http_postmark_decode(&w->pairs[i].value, &mem,
                                                &nul);
            if (nul) {
                goto nul;
            }
        }
    }

    ev->nmeta = w->npairs;

    qsort(ev->meta, ev->nmeta, sizeof(ngx_http_postmark_meta_t),
          ngx_http_postmark_meta_cmp);

    for (i = 1; i < ev->nmeta; i++) {
        if (strcmp(ev->meta[i - 1].key, ev->meta[i].key) == 0) {
            ev->member = "Metadata";
            ev->error_offset = w->meta_offset;
            return NGX_HTTP_POSTMARK_EVENT_DUPLICATE;
        }
    }

    return NGX_HTTP_POSTMARK_EVENT_OK;

nul:

    ev->member = "Metadata";
    ev->error_offset = w->meta_offset;

    return NGX_HTTP_POSTMARK_EVENT_NUL;
}


/*
 * The member a key names, however it is escaped, or -1.  A name with an
 * escaped NUL is, to parsers keeping names as C strings, only what comes
 * before it: when that is a member the filters read, the body means two
 * things, and NGX_HTTP_POSTMARK_MEMBERS + the member is returned.
 */

static int
ngx_http_postmark_key_is(const ngx_http_postmark_span_t *key)
{
    int          i, nul;
    char         buf[NGX_HTTP_POSTMARK_NAME_MAX];
    size_t       len, raw;
    const char  *name;

    raw = key->escaped ? ngx_http_postmark_json_cut(key->raw, key->len)
                       : key->len;

    if (raw > NGX_HTTP_POSTMARK_NAME_MAX) {
        return -1;
    }

    if (key->escaped) {
        len = ngx_http_postmark_json_unescape(key->raw, raw, buf, &nul);
        name = buf;

    } else {
        len = raw;
        name = key->raw;
    }

    for (i = 0; i < NGX_HTTP_POSTMARK_MEMBERS; i++) {
        if (ngx_http_postmark_members[i].len == len
            && memcmp(ngx_http_postmark_members[i].name, name, len) == 0)
        {
            return (raw < key->len) ? NGX_HTTP_POSTMARK_MEMBERS + i : i;
        }
    }

    return -1;
}


static ngx_http_postmark_event_rc_e
ngx_http_postmark_json_failed(ngx_http_postmark_json_t *j,
    ngx_http_postmark_event_t *ev)
{
    ev->error_offset = ngx_http_postmark_json_offset(j);

    return j->too_deep ? NGX_HTTP_POSTMARK_EVENT_TOO_DEEP
                       : NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
}


/* a span's text, decoded and NUL-terminated, taken from *mem */

static char *
ngx_http_postmark_decode(const ngx_http_postmark_span_t *s, char **mem,
    int *nul)
{
    char    *text;
    size_t   len;

    text = *mem;
    *nul = 0;

    if (s->escaped) {
        len = ngx_http_postmark_json_unescape(s->raw, s->len, text, nul);

    } else {
        memcpy(text, s->raw, s->len);
        len = s->len;
    }

    text[len] = '\0';
    *mem += len + 1;

    return text;
}


static int
ngx_http_postmark_meta_cmp(const void *one, const void *two)
{
    const ngx_http_postmark_meta_t  *a = one;
    const ngx_http_postmark_meta_t  *b = two;

    return strcmp(a->key, b->key);
}


void
ngx_http_postmark_event_free(ngx_http_postmark_event_t *ev)
{
    free(ev->mem);

    ev->mem = NULL;
    ev->meta = NULL;
    ev->nmeta = 0;
}


const char *
ngx_http_postmark_event_strerror(ngx_http_postmark_event_rc_e rc)
{
    switch (rc) {

    case NGX_HTTP_POSTMARK_EVENT_OK:
        return "ok";

    case NGX_HTTP_POSTMARK_EVENT_EMPTY:
        return "request body is empty";

    case NGX_HTTP_POSTMARK_EVENT_INVALID_JSON:
        return "request body is not valid JSON";

    case NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA:
        return "request body has data after the JSON object";

    case NGX_HTTP_POSTMARK_EVENT_NOT_OBJECT:
        return "request body is JSON but not an object";

    case NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE:
        return "RecordType is not a non-empty string";

    case NGX_HTTP_POSTMARK_EVENT_BOM:
        return "request body starts with a byte-order mark, which JSON "
               "parsers refuse";

    case NGX_HTTP_POSTMARK_EVENT_TOO_DEEP:
        return "request body is nested deeper than JSON parsers go";

    case NGX_HTTP_POSTMARK_EVENT_DUPLICATE:
        return "request body has a member twice, which JSON parsers read "
               "differently";

    case NGX_HTTP_POSTMARK_EVENT_NUL:
        return "request body has an escaped NUL (\\u0000) in a member the "
               "filters read";

    default: /* NGX_HTTP_POSTMARK_EVENT_NO_MEMORY */
        return "out of memory";
    }
}


unsigned
ngx_http_postmark_event_type(const char *name, int ignore_case)
{
    const ngx_http_postmark_event_type_t  *t;

    for (t = ngx_http_postmark_types; t->name; t++) {
        if (ignore_case ? strcasecmp(t->name, name) == 0
                        : strcmp(t->name, name) == 0)
        {
            return t->type;
        }
    }

    return 0;
}


const char *
ngx_http_postmark_event_type_names(void)
{
    return "Bounce, SpamComplaint, Delivery, Open, Click, "
           "SubscriptionChange, Inbound";
}


/*
 * Several values of one field are alternatives; every field that is set
 * must match.  Metadata pairs with the same key are alternatives, pairs
 * with different keys must all match.
 */

int
ngx_http_postmark_filter_match(const ngx_http_postmark_filter_t *f,
    const ngx_http_postmark_event_t *ev)
{
    int                              found;
    size_t                           i, j;
    ngx_http_postmark_meta_t         key;
    const ngx_http_postmark_meta_t  *m;

    if (f->types && !(f->types & ev->type)) {
        return 0;
    }

    if (f->streams.n && !ngx_http_postmark_list_has(&f->streams, ev->stream))
    {
        return 0;
    }

    if (f->tags.n && !ngx_http_postmark_list_has(&f->tags, ev->tag)) {
        return 0;
    }

    for (i = 0; i < f->nmeta; i++) {

        for (j = 0; j < i; j++) {
            if (strcmp(f->meta_keys[j], f->meta_keys[i]) == 0) {
                break;
            }
        }

        if (j < i) {
            continue;   /* this key was decided already */
        }

        key.key = f->meta_keys[i];

        m = ev->nmeta ? bsearch(&key, ev->meta, ev->nmeta,
                                sizeof(ngx_http_postmark_meta_t),
                                ngx_http_postmark_meta_cmp)
                      : NULL;

        found = 0;

        for (j = i; m && j < f->nmeta && !found; j++) {
            if (strcmp(f->meta_keys[j], f->meta_keys[i]) == 0) {
                found = ngx_http_postmark_meta_equals(m, f->meta_values[j]);
            }
        }

        if (!found) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_postmark_list_has(const ngx_http_postmark_list_t *list,
    const char *value)
{
    size_t  i;

    if (value == NULL) {
        return 0;
    }

    for (i = 0; i < list->n; i++) {
        if (strcmp(list->values[i], value) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * Postmark sends metadata values as strings, but older payloads carry
 * numbers and booleans; they match the text they would be written as.
 */

static int
ngx_http_postmark_meta_equals(const ngx_http_postmark_meta_t *m,
    const char *value)
{
    char    text[32];
    double  d;

    switch (m->type) {

    case NGX_HTTP_POSTMARK_META_STRING:
    case NGX_HTTP_POSTMARK_META_BOOLEAN:
        return strcmp(m->value, value) == 0;

    case NGX_HTTP_POSTMARK_META_NUMBER:
        d = strtod(m->value, NULL);

        if (d > -1e15 && d < 1e15 && d == (double) (long long) d) {
            snprintf(text, sizeof(text), "%lld", (long long) d);

        } else {
            snprintf(text, sizeof(text), "%.17g", d);
        }

        return strcmp(text, value) == 0;

    default:
        return 0;
    }
}
