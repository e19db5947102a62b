
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The spool's administration, for the agency only (a key of its own):
 *
 *   GET  {prefix}                       the spool and the destinations
 *   GET  {prefix}dead-letters           dead letters, oldest first
 *   POST {prefix}dead-letters/replay    back into the spool, to deliver
 *
 * Dead letters can be filtered with ?client=NAME and ?destination=URL.
 * Reading and replaying them is done in a thread: a dead letter may be
 * as large as the largest event.
 */


#include "ngx_http_postmark_http.h"
#include "ngx_http_postmark_retry.h"
#include "ngx_http_postmark_stats.h"

#include <sys/file.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>


#define NGX_HTTP_POSTMARK_LIST_MAX     1000
#define NGX_HTTP_POSTMARK_REPLAY_MAX   1000
#define NGX_HTTP_POSTMARK_REPLAY_SIZE  (64 * 1024 * 1024)


typedef struct {
    ngx_http_request_t             *request;
    u_char                         *dir;
    char                           *client;     /* filters, or NULL */
    char                           *dest;
    ngx_uint_t                      limit;
    ngx_uint_t                      replay;
    ngx_uint_t                      own;        /* for a client's portal */
    ngx_array_t                    *spooled;    /* what can be replayed */

    /* the dead letters' names, oldest first, and how far read */
    char                          **names;
    size_t                          nnames;
    size_t                          next;
    ngx_uint_t                      listed;

    /* found */
    char                           *json;       /* a listing */
    ngx_http_postmark_letter_t     *letters;    /* a batch to replay */
    ngx_uint_t                      nletters;
    ngx_uint_t                      matched;
    ngx_uint_t                      invalid;
    ngx_uint_t                      skipped;
    ngx_uint_t                      more;
    int                             lock;

    ngx_uint_t                      replayed;   /* over all batches */

    ngx_http_postmark_batch_t      *batch;
    ngx_http_postmark_commit_t      commit;
    ngx_int_t                       rc;
    const char                     *op;
    ngx_err_t                       err;
} ngx_http_postmark_admin_t;


static ngx_int_t ngx_http_postmark_admin_auth(ngx_http_request_t *r);
static ngx_int_t ngx_http_postmark_admin_status(ngx_http_request_t *r);
static ngx_int_t ngx_http_postmark_admin_letters(ngx_http_request_t *r,
    ngx_uint_t replay);
static ngx_int_t ngx_http_postmark_letters_post(ngx_http_request_t *r,
    char *client, char *dest, ngx_int_t limit, ngx_uint_t replay,
    ngx_uint_t own);
static ngx_int_t ngx_http_postmark_letters_args(ngx_http_request_t *r,
    char **names, char **values, ngx_int_t *limit, ngx_int_t *rc);
static void ngx_http_postmark_letter_own(ngx_http_postmark_admin_t *ctx,
    cJSON *item, ngx_http_postmark_letter_t *letter);
static ngx_int_t ngx_http_postmark_admin_args(ngx_http_request_t *r,
    char **names, char **values, char **error);
static char *ngx_http_postmark_admin_bad_arg(ngx_http_request_t *r,
    ngx_str_t *name, char **names, ngx_uint_t repeated);
static ngx_int_t ngx_http_postmark_admin_run(ngx_thread_task_t *task,
    ngx_http_request_t *r);
static void ngx_http_postmark_letters_thread(void *data, ngx_log_t *log);
static ngx_int_t ngx_http_postmark_letters_start(
    ngx_http_postmark_admin_t *ctx);
static void ngx_http_postmark_letters_done(ngx_event_t *ev);
static void ngx_http_postmark_replay_batch(ngx_thread_task_t *task);
static void ngx_http_postmark_replay_committed(void *data, ngx_int_t rc);
static void ngx_http_postmark_replay_unlink(void *data, ngx_log_t *log);
static void ngx_http_postmark_replay_unlinked(ngx_event_t *ev);
static void ngx_http_postmark_admin_free(ngx_http_postmark_admin_t *ctx);
static void ngx_http_postmark_admin_finish(ngx_thread_task_t *task,
    ngx_int_t rc);


ngx_int_t
ngx_http_postmark_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      path;
    ngx_http_postmark_loc_conf_t  *plcf;

    if (ngx_http_postmark_create_ctx(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a body left unread would be read as the next request */

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_postmark_admin_auth(r);

    if (rc == NGX_DECLINED) {
        return ngx_http_postmark_send_unauthorized(r,
                   "Bearer realm=\"postmark-admin\"",
                   "the key of \"postmark_spool_admin\" is required, as "
                   "\"Authorization: Bearer <key>\"");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);

    path.data = r->uri.data + plcf->prefix.len;
    path.len = r->uri.len - plcf->prefix.len;

    if (path.len == 0) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            goto not_allowed_get;
        }

        if (r->args.len) {
            return ngx_http_postmark_send_status(r, NGX_HTTP_BAD_REQUEST,
                       "rejected", "the spool's status takes no query "
                       "parameters");
        }

        return ngx_http_postmark_admin_status(r);
    }

    if (path.len == sizeof("dead-letters") - 1
        && ngx_strncmp(path.data, "dead-letters", path.len) == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            goto not_allowed_get;
        }

        return ngx_http_postmark_admin_letters(r, 0);
    }

    if (path.len == sizeof("dead-letters/replay") - 1
        && ngx_strncmp(path.data, "dead-letters/replay", path.len) == 0)
    {
        if (r->method != NGX_HTTP_POST) {
            if (ngx_http_postmark_add_header(r, "Allow", "POST") != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_postmark_send_status(r, NGX_HTTP_NOT_ALLOWED,
                       "method_not_allowed", "replay with POST");
        }

        return ngx_http_postmark_admin_letters(r, 1);
    }

    return ngx_http_postmark_send_status(r, NGX_HTTP_NOT_FOUND, "not_found",
               "the spool's administration has \"\", \"dead-letters\" and "
               "\"dead-letters/replay\" under this location");

not_allowed_get:

    if (ngx_http_postmark_add_header(r, "Allow", "GET, HEAD") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_postmark_send_status(r, NGX_HTTP_NOT_ALLOWED,
                                         "method_not_allowed",
                                         "read this with GET");
}


/*
 * "Authorization: Bearer <key>", compared as a digest in constant time;
 * NGX_DECLINED without the right key.
 */

static ngx_int_t
ngx_http_postmark_admin_auth(ngx_http_request_t *r)
{
    u_char                         md[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_str_t                      key;
    ngx_table_elt_t               *h;
    ngx_http_postmark_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_postmark_module);

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len <= sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "postmark spool admin: no Bearer key");
        return NGX_DECLINED;
    }

    key.data = h->value.data + sizeof("Bearer ") - 1;
    key.len = h->value.len - (sizeof("Bearer ") - 1);

    if (ngx_http_postmark_hash(md, &key, 1) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (CRYPTO_memcmp(md, plcf->admin_hash, NGX_HTTP_POSTMARK_HASH_LEN)
        == 0)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "postmark spool admin: wrong key");

    return NGX_DECLINED;
}


/*
 * The spool as last scanned, and this worker's view of each spooled
 * destination: with several workers, each has its own outboxes.
 */

static ngx_int_t
ngx_http_postmark_admin_status(ngx_http_request_t *r)
{
    off_t                           bytes;
    cJSON                          *json, *list, *item;
    ngx_uint_t                      i, n, segments, dead, state, failures;
    const char                     *circuit;
    ngx_http_postmark_outbox_t     *ob;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_postmark_module);

    ngx_http_postmark_spool_stats(&bytes, &segments, &dead);
    ob = ngx_http_postmark_retry_outboxes(&n);

    json = cJSON_CreateObject();
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cJSON_AddStringToObject(json, "spool", (char *) pmcf->spool.data);
    cJSON_AddNumberToObject(json, "bytes", (double) bytes);
    cJSON_AddNumberToObject(json, "max_size", (double) pmcf->spool_max_size);
    cJSON_AddNumberToObject(json, "segments", (double) segments);
    cJSON_AddNumberToObject(json, "dead_letters", (double) dead);
    cJSON_AddNumberToObject(json, "worker", (double) ngx_pid);

    list = cJSON_AddArrayToObject(json, "destinations");

    for (i = 0; list && i < n; i++) {
        item = cJSON_CreateObject();
        if (item == NULL) {
            break;
        }

        cJSON_AddItemToArray(list, item);

        state = ngx_http_postmark_breaker_state(ob[i].dest, &failures);

        circuit = state == NGX_HTTP_POSTMARK_BREAKER_OPEN ? "open"
                  : state == NGX_HTTP_POSTMARK_BREAKER_PROBING
                    ? "probing" : "closed";

        cJSON_AddStringToObject(item, "client",
                                (char *) ob[i].dest->client->name.data);
        cJSON_AddStringToObject(item, "destination",
                                (char *) ob[i].dest->display.data);
        cJSON_AddNumberToObject(item, "pending", (double) ob[i].pending);
        cJSON_AddNumberToObject(item, "in_flight", (double) ob[i].busy);
        cJSON_AddNumberToObject(item, "delivered", (double) ob[i].delivered);
        cJSON_AddNumberToObject(item, "dead_lettered", (double) ob[i].dead);
        cJSON_AddNumberToObject(item, "failures_in_a_row",
                                (double) failures);
        cJSON_AddStringToObject(item, "circuit_breaker", circuit);
        cJSON_AddBoolToObject(item, "paused",
                              ngx_http_postmark_stats_paused(ob[i].dest) > 0);
        cJSON_AddBoolToObject(item, "gone",
                              ngx_http_postmark_stats_is_gone(ob[i].dest));
    }

    return ngx_http_postmark_send_cjson(r, NGX_HTTP_OK, json);
}


static ngx_int_t
ngx_http_postmark_admin_letters(ngx_http_request_t *r, ngx_uint_t replay)
{
    char       *values[3];
    ngx_int_t   n, rc;

    static char  *listing[] = { "client", "destination", "limit", NULL };
    static char  *replaying[] = { "client", "destination", NULL };

    if (ngx_http_postmark_letters_args(r, replay ? replaying : listing,
                                       values, &n, &rc)
        != NGX_OK)
    {
        return rc;
    }

    return ngx_http_postmark_letters_post(r, values[0], values[1], n, replay,
                                          0);
}


/*
 * A client's own dead letters, at its portal: listed, or replayed when
 * the agency lets it (portal_replay); its destinations show by name, as
 * in its view of its deliveries, never by URL.
 */

ngx_int_t
ngx_http_postmark_own_letters(ngx_http_request_t *r,
    ngx_http_postmark_client_t *client, ngx_uint_t replay)
{
    char       *values[1];
    ngx_int_t   n, rc;

    static char  *listing[] = { "limit", NULL };
    static char  *replaying[] = { NULL };

    if (ngx_http_postmark_letters_args(r, replay ? replaying : listing,
                                       values, &n, &rc)
        != NGX_OK)
    {
        return rc;
    }

    return ngx_http_postmark_letters_post(r, (char *) client->name.data,
                                          NULL, n, replay, 1);
}


/*
 * The query of a listing or a replay, as "names" allow, and its "limit":
 * 100 unless given, a replay's batch without one.  NGX_DECLINED, and "rc"
 * the handler's, when the answer was a refusal.
 */

static ngx_int_t
ngx_http_postmark_letters_args(ngx_http_request_t *r, char **names,
    char **values, ngx_int_t *limit, ngx_int_t *rc)
{
    char        *error;
    ngx_uint_t   i;

    if (ngx_http_postmark_admin_args(r, names, values, &error) != NGX_OK) {
        *rc = (error == NULL)
              ? NGX_HTTP_INTERNAL_SERVER_ERROR
              : ngx_http_postmark_send_status(r, NGX_HTTP_BAD_REQUEST,
                                              "rejected", error);
        return NGX_DECLINED;
    }

    *limit = (r->method == NGX_HTTP_POST) ? NGX_HTTP_POSTMARK_REPLAY_MAX
                                          : 100;

    for (i = 0; names[i]; i++) {
        if (ngx_strcmp(names[i], "limit") != 0 || values[i] == NULL) {
            continue;
        }

        *limit = ngx_atoi((u_char *) values[i], ngx_strlen(values[i]));

        if (*limit < 1 || *limit > NGX_HTTP_POSTMARK_LIST_MAX) {
            *rc = ngx_http_postmark_send_status(r, NGX_HTTP_BAD_REQUEST,
                      "rejected", "limit is a number from 1 to 1000");
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the dead letters are read in a thread: "client" and "dest" filter them */

static ngx_int_t
ngx_http_postmark_letters_post(ngx_http_request_t *r, char *client,
    char *dest, ngx_int_t n, ngx_uint_t replay, ngx_uint_t own)
{
    ngx_thread_task_t              *task;
    ngx_http_postmark_admin_t      *ctx;
    ngx_http_postmark_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_postmark_module);

    task = ngx_http_postmark_task_create(sizeof(ngx_http_postmark_admin_t),
                                         ngx_http_postmark_letters_thread,
                                         ngx_http_postmark_letters_done);
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = task->ctx;
    ctx->request = r;
    ctx->dir = pmcf->dead.data;
    ctx->replay = replay;
    ctx->lock = -1;
    ctx->limit = n;
    ctx->spooled = &pmcf->spooled_by_name;
    ctx->own = own;
    ctx->client = client;
    ctx->dest = dest;

    return ngx_http_postmark_admin_run(task, r);
}


/*
 * The query, as "names" allow: each at most once, unescaped and
 * NUL-terminated into "values", NULL when absent.  Anything else is
 * refused and named in "error": a typo must not widen a replay.
 */

static ngx_int_t
ngx_http_postmark_admin_args(ngx_http_request_t *r, char **names,
    char **values, char **error)
{
    u_char      *p, *last, *amp, *eq, *dst, *src;
    ngx_str_t    name;
    ngx_uint_t   i;

    *error = NULL;

    for (i = 0; names[i]; i++) {
        values[i] = NULL;
    }

    last = r->args.data + r->args.len;

    for (p = r->args.data; p < last; p = amp + 1) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        name.data = p;
        name.len = (eq ? eq : amp) - p;

        for (i = 0; names[i]; i++) {
            if (ngx_strlen(names[i]) == name.len
                && ngx_strncmp(names[i], name.data, name.len) == 0)
            {
                break;
            }
        }

        if (names[i] == NULL || values[i] != NULL) {
            *error = ngx_http_postmark_admin_bad_arg(r, &name, names,
                                                     names[i] != NULL);
            return NGX_DECLINED;
        }

        values[i] = ngx_pnalloc(r->pool, amp - p + 1);
        if (values[i] == NULL) {
            return NGX_ERROR;
        }

        dst = (u_char *) values[i];

        if (eq) {
            src = eq + 1;
            ngx_unescape_uri(&dst, &src, amp - eq - 1, NGX_UNESCAPE_URI);
        }

        *dst = '\0';
    }

    return NGX_OK;
}


/* what is wrong with a parameter, named as sent; NULL without memory */

static char *
ngx_http_postmark_admin_bad_arg(ngx_http_request_t *r, ngx_str_t *name,
    char **names, ngx_uint_t repeated)
{
    u_char      *msg, *p, *last;
    size_t       len;
    ngx_uint_t   i;

    len = 256;

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        return NULL;
    }

    last = msg + len - 1;

    /* the answer escapes it as JSON; a long one is cut */

    p = ngx_snprintf(msg, last - msg, "%sparameter \"%*s\"",
                     repeated ? "" : "unknown ", ngx_min(name->len, 64),
                     name->data);

    if (repeated) {
        p = ngx_snprintf(p, last - p, " is repeated");

    } else {
        p = ngx_snprintf(p, last - p, "; this call takes");

        for (i = 0; names[i]; i++) {
            p = ngx_snprintf(p, last - p, "%s \"%s\"", i ? "," : "",
                             names[i]);
        }
    }

    *p = '\0';

    return (char *) msg;
}


/*
 * The request waits for the thread: "blocked" keeps nginx from freeing it
 * meanwhile, even if the client goes away.
 */

static ngx_int_t
ngx_http_postmark_admin_run(ngx_thread_task_t *task, ngx_http_request_t *r)
{
    if (ngx_http_postmark_task_post(task) != NGX_OK) {
        ngx_http_postmark_admin_free(task->ctx);
        ngx_free(task);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    r->main->blocked++;
    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_postmark_letters_thread(void *data, ngx_log_t *log)
{
    ngx_http_postmark_admin_t *ctx = data;

    char                         path[NGX_MAX_PATH];
    cJSON                       *list, *item;
    size_t                       size;
    ngx_int_t                    rc;
    ngx_http_postmark_letter_t   letter;

    ctx->rc = NGX_OK;
    ctx->nletters = 0;
    ctx->more = 0;

    if (!ctx->listed) {
        rc = ngx_http_postmark_letters_start(ctx);
        if (rc != NGX_OK) {
            ctx->rc = rc;
            return;
        }
    }

    list = NULL;

    if (ctx->replay) {
        ctx->letters = calloc(ctx->limit, sizeof(ngx_http_postmark_letter_t));
        if (ctx->letters == NULL) {
            ctx->op = "calloc()";
            ctx->rc = NGX_ERROR;
            return;
        }

    } else {
        list = cJSON_CreateArray();
    }

    size = 0;

    for ( /* void */ ; ctx->next < ctx->nnames; ctx->next++) {
        snprintf(path, sizeof(path), "%s/%s", (char *) ctx->dir,
                 ctx->names[ctx->next]);

        rc = ngx_http_postmark_letter_read(path, &letter);

        if (rc != NGX_OK) {

            /* one that cannot be read, or makes no sense, stays there */

            if (rc == NGX_ERROR) {
                ctx->invalid++;
            }

            continue;
        }

        if ((ctx->client && strcmp(ctx->client, letter.rec.client) != 0)
            || (ctx->dest && strcmp(ctx->dest, letter.rec.dest) != 0))
        {
            ngx_http_postmark_letter_free(&letter);
            continue;
        }

        if (!ctx->replay) {
            if (list && ++ctx->matched <= ctx->limit) {
                item = cJSON_Duplicate(letter.head, 1);

                if (item && ctx->own) {
                    ngx_http_postmark_letter_own(ctx, item, &letter);

                } else if (item) {
                    cJSON_AddStringToObject(item, "file",
                                            ctx->names[ctx->next]);
                }

                if (item) {
                    cJSON_AddNumberToObject(item, "event_bytes",
                                            (double) letter.rec.body_len);
                    cJSON_AddItemToArray(list, item);
                }
            }

            ngx_http_postmark_letter_free(&letter);
            continue;
        }

        if (ngx_http_postmark_spooled_dest(ctx->spooled, &letter.rec)
            == NULL)
        {
            ctx->skipped++;
            ngx_http_postmark_letter_free(&letter);
            continue;
        }

        /* a batch ends at its count, or at its size past its first */

        if (ctx->nletters == ctx->limit
            || (ctx->nletters
                && size + letter.size > NGX_HTTP_POSTMARK_REPLAY_SIZE))
        {
            ngx_http_postmark_letter_free(&letter);
            ctx->more = 1;
            break;
        }

        size += letter.size;
        letter.name = ctx->names[ctx->next];
        ctx->letters[ctx->nletters++] = letter;
    }

    if (list) {
        ctx->json = cJSON_PrintUnformatted(list);
        cJSON_Delete(list);
    }
}


/*
 * A letter as its client sees it: its destination by the name the
 * metrics give it, never its URL, nor the file the letter is in.
 */

static void
ngx_http_postmark_letter_own(ngx_http_postmark_admin_t *ctx, cJSON *item,
    ngx_http_postmark_letter_t *letter)
{
    char                       name[256];
    ngx_http_postmark_dest_t  *dest;

    dest = ngx_http_postmark_spooled_dest(ctx->spooled, &letter->rec);

    if (dest) {
        ngx_cpystrn((u_char *) name, dest->name.data,
                    ngx_min(dest->name.len, sizeof(name) - 1) + 1);
    }

    cJSON_DeleteItemFromObjectCaseSensitive(item, "destination");
    cJSON_AddStringToObject(item, "destination",
                            dest ? name : "(no longer configured)");
}


/* takes the replay lock, and lists the dead letters, oldest first */

static ngx_int_t
ngx_http_postmark_letters_start(ngx_http_postmark_admin_t *ctx)
{
    char  path[NGX_MAX_PATH];

    if (ctx->replay) {
        snprintf(path, sizeof(path), "%s/.replay", (char *) ctx->dir);

        ctx->lock = open(path, O_RDWR|O_CREAT|O_CLOEXEC, 0600);

        if (ctx->lock == -1) {
            ctx->op = "open()";
            ctx->err = errno;
            return NGX_ERROR;
        }

        if (flock(ctx->lock, LOCK_EX|LOCK_NB) == -1) {
            (void) close(ctx->lock);
            ctx->lock = -1;
            return NGX_BUSY;
        }
    }

    if (ngx_http_postmark_list_dir(ctx->dir, ".dead", &ctx->names,
                                   &ctx->nnames)
        != NGX_OK)
    {
        ctx->op = "opendir()";
        ctx->err = errno;
        return NGX_ERROR;
    }

    ctx->listed = 1;

    return NGX_OK;
}


static void
ngx_http_postmark_letters_done(ngx_event_t *ev)
{
    cJSON                      *json;
    ngx_int_t                   rc;
    ngx_thread_task_t          *task;
    ngx_http_request_t         *r;
    ngx_http_postmark_admin_t  *ctx;

    task = ev->data;
    ctx = task->ctx;
    r = ctx->request;

    if (ctx->rc == NGX_BUSY) {
        rc = ngx_http_postmark_send_status(r, NGX_HTTP_CONFLICT, "busy",
                 "another replay is running; try again when it is done");
        ngx_http_postmark_admin_finish(task, rc);
        return;
    }

    if (ctx->rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ctx->err,
                      "postmark spool admin: %s of \"%s\" failed", ctx->op,
                      ctx->dir);
        ngx_http_postmark_admin_finish(task, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->replay) {
        ngx_http_postmark_replay_batch(task);
        return;
    }

    json = cJSON_CreateObject();

    if (json == NULL
        || cJSON_AddNumberToObject(json, "count", (double) ctx->matched)
           == NULL
        || cJSON_AddNumberToObject(json, "invalid", (double) ctx->invalid)
           == NULL
        || !cJSON_AddItemToObject(json, "dead_letters",
                                  ctx->json ? cJSON_Parse(ctx->json)
                                            : cJSON_CreateArray()))
    {
        cJSON_Delete(json);
        ngx_http_postmark_admin_finish(task, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_postmark_send_cjson(r, NGX_HTTP_OK, json);

    ngx_http_postmark_admin_finish(task, rc);
}


/*
 * The letters read go back into the spool as new deliveries, with their
 * webhook-id, and a new retry_max_age from now; those whose destination
 * is no longer spooled here stay dead letters.
 */

static void
ngx_http_postmark_replay_batch(ngx_thread_task_t *task)
{
    uint64_t                      now;
    ngx_int_t                     rc;
    ngx_uint_t                    i, n;
    ngx_http_request_t           *r;
    ngx_http_postmark_batch_t    *b;
    ngx_http_postmark_admin_t    *ctx;
    ngx_http_postmark_outbox_t   *ob;
    ngx_http_postmark_letter_t   *letter;

    ctx = task->ctx;
    r = ctx->request;

    b = ngx_pcalloc(r->pool, sizeof(ngx_http_postmark_batch_t));
    if (b) {
        b->recs = ngx_pcalloc(r->pool, (ctx->nletters + 1)
                                       * sizeof(ngx_http_postmark_record_t));
        b->dests = ngx_pcalloc(r->pool, (ctx->nletters + 1)
                                        * sizeof(ngx_http_postmark_dest_t *));
    }

    if (b == NULL || b->recs == NULL || b->dests == NULL) {
        ngx_http_postmark_admin_finish(task, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    now = ngx_http_postmark_now();
    n = 0;

    for (i = 0; i < ctx->nletters; i++) {
        letter = &ctx->letters[i];

        ob = ngx_http_postmark_retry_outbox(&letter->rec);

        if (ob == NULL) {

            /* kept: its destination is not spooled in this configuration */

            ctx->skipped++;
            letter->name = NULL;
            continue;
        }

        b->recs[n] = letter->rec;
        b->recs[n].created = now;
        b->dests[n] = ob->dest;
        n++;
    }

    if (n == 0) {
        ngx_http_postmark_replay_committed(task, NGX_OK);
        return;
    }

    b->n = n;
    b->commit = &ctx->commit;
    ctx->commit.handler = ngx_http_postmark_replay_committed;
    ctx->commit.data = task;
    ctx->batch = b;

    rc = ngx_http_postmark_spool_write(b);

    if (rc == NGX_DECLINED || rc == NGX_ABORT) {
        rc = ngx_http_postmark_send_status(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                 "full", "the spool is full; nothing more was replayed");
        ngx_http_postmark_admin_finish(task, rc);
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_postmark_admin_finish(task, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the records are copied: the letters' memory can go */

    for (i = 0; i < ctx->nletters; i++) {
        ngx_http_postmark_letter_free(&ctx->letters[i]);
    }
}


static void
ngx_http_postmark_replay_committed(void *data, ngx_int_t rc)
{
    ngx_thread_task_t *task = data;

    ngx_http_postmark_admin_t  *ctx;

    ctx = task->ctx;

    if (rc != NGX_OK) {
        rc = ngx_http_postmark_send_status(ctx->request,
                 NGX_HTTP_SERVICE_UNAVAILABLE, "failed",
                 "the spool cannot be written; nothing more was replayed");
        ngx_http_postmark_admin_finish(task, rc);
        return;
    }

    ctx->replayed += ctx->batch ? ctx->batch->n : 0;
    ctx->batch = NULL;

    /* the replayed letters are removed, then the next batch is read */

    task->handler = ngx_http_postmark_replay_unlink;
    task->event.handler = ngx_http_postmark_replay_unlinked;

    if (ngx_http_postmark_task_post(task) != NGX_OK) {
        ngx_http_postmark_admin_finish(task, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


static void
ngx_http_postmark_replay_unlink(void *data, ngx_log_t *log)
{
    ngx_http_postmark_admin_t *ctx = data;

    char        path[NGX_MAX_PATH];
    ngx_uint_t  i;

    for (i = 0; i < ctx->nletters; i++) {
        if (ctx->letters[i].name) {
            snprintf(path, sizeof(path), "%s/%s", (char *) ctx->dir,
                     ctx->letters[i].name);
            (void) unlink(path);
        }
    }
}


static void
ngx_http_postmark_replay_unlinked(ngx_event_t *ev)
{
    cJSON                      *json;
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_thread_task_t          *task;
    ngx_http_postmark_admin_t  *ctx;

    task = ev->data;
    ctx = task->ctx;

    for (i = 0; i < ctx->nletters; i++) {
        ngx_http_postmark_letter_free(&ctx->letters[i]);
    }

    free(ctx->letters);
    ctx->letters = NULL;
    ctx->nletters = 0;

    if (ctx->more) {
        task->handler = ngx_http_postmark_letters_thread;
        task->event.handler = ngx_http_postmark_letters_done;

        if (ngx_http_postmark_task_post(task) == NGX_OK) {
            return;
        }
    }

    json = cJSON_CreateObject();

    if (json == NULL
        || cJSON_AddStringToObject(json, "status", "replayed") == NULL
        || cJSON_AddNumberToObject(json, "replayed", (double) ctx->replayed)
           == NULL
        || cJSON_AddNumberToObject(json, "skipped", (double) ctx->skipped)
           == NULL
        || cJSON_AddNumberToObject(json, "invalid", (double) ctx->invalid)
           == NULL)
    {
        cJSON_Delete(json);
        ngx_http_postmark_admin_finish(task, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ctx->request->connection->log, 0,
                  "postmark spool admin: %ui dead letters replayed, %ui "
                  "skipped", ctx->replayed, ctx->skipped);

    rc = ngx_http_postmark_send_cjson(ctx->request, NGX_HTTP_OK, json);

    ngx_http_postmark_admin_finish(task, rc);
}


static void
ngx_http_postmark_admin_free(ngx_http_postmark_admin_t *ctx)
{
    ngx_uint_t  i;

    if (ctx->letters) {
        for (i = 0; i < ctx->nletters; i++) {
            ngx_http_postmark_letter_free(&ctx->letters[i]);
        }

        free(ctx->letters);
        ctx->letters = NULL;
    }

    if (ctx->names) {
        ngx_http_postmark_names_free(ctx->names, ctx->nnames);
        ctx->names = NULL;
    }

    free(ctx->json);
    ctx->json = NULL;

    if (ctx->lock != -1) {

        /* releases the replay lock; a lock file is never written */

        (void) close(ctx->lock);
        ctx->lock = -1;
    }
}


static void
ngx_http_postmark_admin_finish(ngx_thread_task_t *task, ngx_int_t rc)
{
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_postmark_admin_t  *ctx;

    ctx = task->ctx;
    r = ctx->request;
    c = r->connection;

    ngx_http_postmark_admin_free(ctx);
    ngx_free(task);

    r->main->blocked--;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


