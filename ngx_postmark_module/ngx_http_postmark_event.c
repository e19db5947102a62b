
/*
 * Copyright (C) ngx_postmark_module authors
 */


#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_postmark_event.h"


typedef struct {
    const char  *name;
    unsigned     type;
} ngx_http_postmark_event_type_t;


static const char *ngx_http_postmark_event_string(const cJSON *root,
    const char *name);
static int ngx_http_postmark_list_has(const ngx_http_postmark_list_t *list,
    const char *value);
static int ngx_http_postmark_meta_equals(const cJSON *item,
    const char *value);


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
 * One JSON object and nothing after it but blanks.  cJSON stops after the
 * first value, and never reads beyond "len": bodies are not terminated.
 *
 * cJSON lets control characters through inside strings, which JSON does
 * not allow; refusing them also keeps the bytes that frame the spool's
 * records out of every event (ngx_http_postmark_record.h).
 */

ngx_http_postmark_event_rc_e
ngx_http_postmark_json_object(const char *body, size_t len, cJSON **root,
    size_t *error_offset)
{
    size_t       i;
    const char  *end, *last;

    *root = NULL;
    *error_offset = 0;

    if (len == 0) {
        return NGX_HTTP_POSTMARK_EVENT_EMPTY;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) body[i] < 0x20
            && body[i] != '\t' && body[i] != '\r' && body[i] != '\n')
        {
            *error_offset = i;
            return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
        }
    }

    *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);

    if (*root == NULL) {
        *error_offset = end ? (size_t) (end - body) : 0;
        return NGX_HTTP_POSTMARK_EVENT_INVALID_JSON;
    }

    for (last = body + len; end < last; end++) {
        if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
            *error_offset = end - body;
            return NGX_HTTP_POSTMARK_EVENT_TRAILING_DATA;
        }
    }

    if (!cJSON_IsObject(*root)) {
        return NGX_HTTP_POSTMARK_EVENT_NOT_OBJECT;
    }

    return NGX_HTTP_POSTMARK_EVENT_OK;
}


ngx_http_postmark_event_rc_e
ngx_http_postmark_event_parse(const char *body, size_t len,
    ngx_http_postmark_event_t *ev)
{
    const cJSON                   *item;
    ngx_http_postmark_event_rc_e   rc;

    memset(ev, 0, sizeof(ngx_http_postmark_event_t));

    rc = ngx_http_postmark_json_object(body, len, &ev->root,
                                       &ev->error_offset);
    if (rc != NGX_HTTP_POSTMARK_EVENT_OK) {
        return rc;
    }

    item = cJSON_GetObjectItemCaseSensitive(ev->root, "RecordType");

    if (item == NULL) {

        /* Postmark's inbound webhook is the one event without a RecordType */

        ev->record_type = "Inbound";
        ev->type = NGX_HTTP_POSTMARK_INBOUND;

    } else if (cJSON_IsString(item) && item->valuestring[0] != '\0') {
        ev->record_type = item->valuestring;
        ev->type = ngx_http_postmark_event_type(item->valuestring, 0);

        if (ev->type == 0) {
            ev->type = NGX_HTTP_POSTMARK_OTHER;
        }

    } else {
        return NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE;
    }

    ev->stream = ngx_http_postmark_event_string(ev->root, "MessageStream");
    ev->tag = ngx_http_postmark_event_string(ev->root, "Tag");
    ev->message_id = ngx_http_postmark_event_string(ev->root, "MessageID");

    item = cJSON_GetObjectItemCaseSensitive(ev->root, "Metadata");
    ev->metadata = cJSON_IsObject(item) ? item : NULL;

    return NGX_HTTP_POSTMARK_EVENT_OK;
}


void
ngx_http_postmark_event_free(ngx_http_postmark_event_t *ev)
{
    if (ev->root) {
        cJSON_Delete(ev->root);
        ev->root = NULL;
    }
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

    default: /* NGX_HTTP_POSTMARK_EVENT_BAD_RECORD_TYPE */
        return "RecordType is not a non-empty string";
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
    int           found;
    size_t        i, j;
    const cJSON  *item;

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

        item = ev->metadata
               ? cJSON_GetObjectItemCaseSensitive(ev->metadata, f->meta_keys[i])
               : NULL;

        found = 0;

        for (j = i; item && j < f->nmeta && !found; j++) {
            if (strcmp(f->meta_keys[j], f->meta_keys[i]) == 0) {
                found = ngx_http_postmark_meta_equals(item, f->meta_values[j]);
            }
        }

        if (!found) {
            return 0;
        }
    }

    return 1;
}


static const char *
ngx_http_postmark_event_string(const cJSON *root, const char *name)
{
    const cJSON  *item;

    item = cJSON_GetObjectItemCaseSensitive(root, name);

    return cJSON_IsString(item) ? item->valuestring : NULL;
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
ngx_http_postmark_meta_equals(const cJSON *item, const char *value)
{
    char    text[32];
    double  d;

    if (cJSON_IsString(item)) {
        return strcmp(item->valuestring, value) == 0;
    }

    if (cJSON_IsBool(item)) {
        return strcmp(cJSON_IsTrue(item) ? "true" : "false", value) == 0;
    }

    if (cJSON_IsNumber(item)) {
        d = item->valuedouble;

        if (d > -1e15 && d < 1e15 && d == (double) (long long) d) {
            snprintf(text, sizeof(text), "%lld", (long long) d);

        } else {
            snprintf(text, sizeof(text), "%.17g", d);
        }

        return strcmp(text, value) == 0;
    }

    return 0;
}
