
/*
 * Unit tests of the portal's route core, without nginx: the Templates API
 * and the read-only activity a client's portal may call, what is sent for
 * each, and what is refused.  Prints TAP.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_postmark_route.h"
#include "tap.h"


#define GET     NGX_HTTP_POSTMARK_M_GET
#define POST    NGX_HTTP_POSTMARK_M_POST
#define PUT     NGX_HTTP_POSTMARK_M_PUT
#define DELETE  NGX_HTTP_POSTMARK_M_DELETE
#define PATCH   NGX_HTTP_POSTMARK_M_PATCH
#define OTHER   NGX_HTTP_POSTMARK_M_OTHER


/* what a client's portal may reach */

static const ngx_http_postmark_scope_t  all = {
    NGX_HTTP_POSTMARK_FULL, 1, 1
};
static const ngx_http_postmark_scope_t  ro = {
    NGX_HTTP_POSTMARK_READ_ONLY, 0, 0
};
static const ngx_http_postmark_scope_t  activity = {
    NGX_HTTP_POSTMARK_TEMPLATES_OFF, 1, 0
};

#define MSG  "0ac29aee-e1cd-480d-b08d-4f48548ff48d"


static void
route(int method, const ngx_http_postmark_scope_t *scope, const char *target,
    ngx_http_postmark_route_t *rt)
{
    const char  *q;

    q = strchr(target, '?');

    if (q) {
        ngx_http_postmark_route(method, scope, target, q - target, q + 1,
                                strlen(q + 1), rt);
    } else {
        ngx_http_postmark_route(method, scope, target, strlen(target),
                                NULL, 0, rt);
    }
}


static void
allowed(int method, const ngx_http_postmark_scope_t *scope,
    const char *target, const char *op, const char *upstream,
    const char *name, int body)
{
    ngx_http_postmark_route_t  rt;

    route(method, scope, target, &rt);

    ok(rt.status == 0 && rt.op && strcmp(rt.op, op) == 0
       && rt.method == method, "%s: allowed as %s%s", target, op,
       rt.status ? rt.message : "");
    ok(strcmp(rt.target, upstream) == 0, "%s: sent as %s (got %s)", target,
       upstream, rt.target);
    ok(strcmp(rt.name, name) == 0, "%s: item \"%s\"", target, name);
    ok(rt.body == body, "%s: %s", target, body ? "takes a body" : "no body");
}


static void
sent(const char *target, const char *upstream)
{
    ngx_http_postmark_route_t  rt;

    route(GET, &all, target, &rt);

    ok(rt.status == 0 && strcmp(rt.target, upstream) == 0,
       "%s: sent as %s (got %s%s)", target, upstream, rt.target,
       rt.status ? rt.message : "");
}


static void
refused(int method, const ngx_http_postmark_scope_t *scope,
    const char *target, int status, int code, const char *words)
{
    ngx_http_postmark_route_t  rt;

    route(method, scope, target, &rt);

    ok(rt.status == status && rt.error_code == code,
       "%s: refused with %d/%d (got %d/%d %s)", target, status, code,
       rt.status, rt.error_code, rt.message);
    ok(strstr(rt.message, words) != NULL, "%s: says \"%s\" (%s)", target,
       words, rt.message);
    ok(rt.op == NULL && rt.target[0] == '\0' && rt.body == 0,
       "%s: nothing to send", target);
}


static void
test_templates(void)
{
    char                       alias[NGX_HTTP_POSTMARK_ALIAS_MAX + 1];
    char                       target[200];
    ngx_http_postmark_route_t  rt;

    allowed(GET, &all, "/templates", "templates.list", "/templates", "", 0);
    allowed(GET, &ro, "/templates?Count=10&Offset=0", "templates.list",
            "/templates?Count=10&Offset=0", "", 0);
    allowed(GET, &all, "/templates?offset=20&count=500&templatetype=layout"
            "&layoutTemplate=base-layout", "templates.list",
            "/templates?Count=500&Offset=20&TemplateType=Layout"
            "&LayoutTemplate=base-layout", "", 0);
    allowed(GET, &all, "/templates?", "templates.list", "/templates", "", 0);
    allowed(GET, &all, "/Templates", "templates.list", "/templates", "", 0);
    allowed(GET, &all, "/templates/1234567", "templates.get",
            "/templates/1234567", "1234567", 0);
    allowed(GET, &ro, "/templates/welcome-email.v2_b", "templates.get",
            "/templates/welcome-email.v2_b", "welcome-email.v2_b", 0);
    allowed(PUT, &all, "/templates/welcome", "templates.edit",
            "/templates/welcome", "welcome", 1);
    allowed(DELETE, &all, "/templates/42", "templates.delete",
            "/templates/42", "42", 0);
    allowed(POST, &all, "/templates", "templates.create", "/templates", "",
            1);
    allowed(POST, &ro, "/templates/validate", "templates.validate",
            "/templates/validate", "", 1);

    /* one trailing slash, as SDKs write some paths: sent without it */

    allowed(POST, &all, "/templates/", "templates.create", "/templates", "",
            1);
    allowed(GET, &all, "/templates/?count=5&offset=0", "templates.list",
            "/templates?Count=5&Offset=0", "", 0);
    allowed(GET, &all, "/templates/42/", "templates.get", "/templates/42",
            "42", 0);

    /* an empty value counts as absent (the .NET SDK sends some) */

    allowed(GET, &all, "/templates?Count=&Offset=0", "templates.list",
            "/templates?Offset=0", "", 0);

    memset(alias, 'a', NGX_HTTP_POSTMARK_ALIAS_MAX);
    alias[NGX_HTTP_POSTMARK_ALIAS_MAX] = '\0';

    snprintf(target, sizeof(target), "/templates/%s", alias);
    route(GET, &all, target, &rt);
    ok(rt.status == 0 && rt.template, "an alias of %d characters is "
       "allowed", NGX_HTTP_POSTMARK_ALIAS_MAX);

    snprintf(target, sizeof(target), "/templates/%sa", alias);
    refused(GET, &all, target, 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a template id or alias");

    /* read-only clients change nothing; some have no templates at all */

    refused(POST, &ro, "/templates", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
            "read-only");
    refused(PUT, &ro, "/templates/welcome", 403,
            NGX_HTTP_POSTMARK_E_READ_ONLY, "read-only");
    refused(DELETE, &ro, "/templates/42", 403, NGX_HTTP_POSTMARK_E_READ_ONLY,
            "read-only");
    refused(GET, &activity, "/templates", 403, NGX_HTTP_POSTMARK_E_SCOPE,
            "no access to its templates");
    refused(POST, &activity, "/templates", 403, NGX_HTTP_POSTMARK_E_SCOPE,
            "no access to its templates");

    refused(PUT, &all, "/templates/push", 403, NGX_HTTP_POSTMARK_E_PUSH,
            "pushing templates");
    refused(GET, &all, "/templates/push", 403, NGX_HTTP_POSTMARK_E_PUSH,
            "pushing templates");
    refused(GET, &all, "/templates/validate", 405,
            NGX_HTTP_POSTMARK_E_METHOD, "POST");
    refused(OTHER, &all, "/templates", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "GET, POST");
    refused(PUT, &all, "/templates", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "GET, POST");
    refused(POST, &all, "/templates/welcome", 405,
            NGX_HTTP_POSTMARK_E_METHOD, "GET, PUT, DELETE");

    route(PUT, &all, "/templates", &rt);
    ok(rt.allow && strcmp(rt.allow, "GET, POST") == 0, "405 says Allow");

    /* query parameters */

    refused(GET, &all, "/templates?Count=10&count=20", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "\"Count\" is repeated");
    refused(GET, &all, "/templates?Count=0", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "from 1 to 500");
    refused(GET, &all, "/templates?Count=501", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "from 1 to 500");
    refused(GET, &all, "/templates?Count=-1", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "from 1 to 500");
    refused(GET, &all, "/templates?Offset=01", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "Offset");
    refused(GET, &all, "/templates?TemplateType=Secret", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "TemplateType has an invalid value");
    refused(GET, &all, "/templates?LayoutTemplate=%2e", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "alias");
    refused(GET, &all, "/templates?ServerId=1", 400,
            NGX_HTTP_POSTMARK_E_QUERY, "\"ServerId\" is not taken");
    refused(GET, &all, "/templates?Co%75nt=1", 400,
            NGX_HTTP_POSTMARK_E_QUERY,
            "empty or invalid parameter name: \"Co%75nt\"");
    refused(GET, &all, "/templates?=1", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "empty or invalid parameter name: \"\"");
    refused(GET, &all, "/templates/42?Count=1", 400,
            NGX_HTTP_POSTMARK_E_QUERY,
            "takes no query parameters (got \"Count\")");
    refused(POST, &all, "/templates?x", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "takes no query parameters (got \"x\")");
}


static void
test_activity(void)
{
    /* every read a server viewer makes, and how it goes to Postmark */

    allowed(GET, &activity, "/messages/outbound?count=50&offset=0",
            "messages.outbound", "/messages/outbound?count=50&offset=0", "",
            0);
    allowed(GET, &activity, "/messages/outbound/" MSG "/details",
            "messages.outbound.details", "/messages/outbound/" MSG "/details",
            MSG, 0);
    allowed(GET, &activity, "/messages/outbound/" MSG "/dump",
            "messages.outbound.dump", "/messages/outbound/" MSG "/dump", MSG,
            0);
    allowed(GET, &activity, "/messages/outbound/opens?count=1&offset=0",
            "messages.opens", "/messages/outbound/opens?count=1&offset=0", "",
            0);
    allowed(GET, &activity, "/messages/outbound/opens/" MSG
            "?count=50&offset=0", "messages.opens.message",
            "/messages/outbound/opens/" MSG "?count=50&offset=0", MSG, 0);
    allowed(GET, &activity, "/messages/outbound/clicks?count=1&offset=0",
            "messages.clicks", "/messages/outbound/clicks?count=1&offset=0",
            "", 0);
    allowed(GET, &activity, "/messages/outbound/clicks/" MSG
            "?count=50&offset=0", "messages.clicks.message",
            "/messages/outbound/clicks/" MSG "?count=50&offset=0", MSG, 0);
    allowed(GET, &activity, "/messages/inbound?count=10&offset=0",
            "messages.inbound", "/messages/inbound?count=10&offset=0", "", 0);
    allowed(GET, &activity, "/messages/inbound/" MSG "/details",
            "messages.inbound.details", "/messages/inbound/" MSG "/details",
            MSG, 0);
    allowed(GET, &activity, "/deliverystats", "bounces.stats",
            "/deliverystats", "", 0);
    allowed(GET, &activity, "/deliveryStats", "bounces.stats",
            "/deliverystats", "", 0);
    allowed(GET, &activity, "/bounces?count=100&offset=0", "bounces.list",
            "/bounces?count=100&offset=0", "", 0);
    allowed(GET, &activity, "/bounces/4323372036854775807", "bounces.get",
            "/bounces/4323372036854775807", "4323372036854775807", 0);
    allowed(GET, &activity, "/bounces/692560173/dump", "bounces.dump",
            "/bounces/692560173/dump", "692560173", 0);
    allowed(GET, &activity, "/stats/outbound", "stats.overview",
            "/stats/outbound", "", 0);
    allowed(GET, &activity, "/stats/outbound/opens/emailClients",
            "stats.opens.clients", "/stats/outbound/opens/emailclients", "",
            0);
    allowed(GET, &activity, "/stats/outbound/opens/readTimes",
            "stats.opens.readtimes", "/stats/outbound/opens/readtimes", "",
            0);
    allowed(GET, &activity, "/stats/outbound/clicks/browserFamilies",
            "stats.clicks.browsers", "/stats/outbound/clicks/browserfamilies",
            "", 0);
    allowed(GET, &activity, "/message-streams", "streams.list",
            "/message-streams", "", 0);
    allowed(GET, &activity, "/message-streams/outbound", "streams.get",
            "/message-streams/outbound", "outbound", 0);
    allowed(GET, &all, "/message-streams/outbound/suppressions/dump",
            "suppressions.dump", "/message-streams/outbound/suppressions/dump",
            "outbound", 0);

    {
        static const char  *subs[] = {
            "sends", "bounces", "spam", "tracked", "opens", "opens/platforms",
            "clicks", "clicks/platforms", "clicks/location"
        };

        char                       target[100];
        size_t                     i;
        ngx_http_postmark_route_t  rt;

        for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
            snprintf(target, sizeof(target), "/stats/outbound/%s?tag=a",
                     subs[i]);
            route(GET, &activity, target, &rt);
            ok(rt.status == 0 && strcmp(rt.target, target) == 0,
               "%s: allowed, sent as it came", target);
        }
    }

    /* query names as the SDKs spell them, sent as Postmark documents them */

    sent("/messages/outbound?count=100&offset=0&fromEmail=a%40b.example"
         "&fromDate=2026-11-01&toDate=2026-11-30T23%3A59%3A59"
         "&messageStream=outbound&Recipient=x%2By%40z.example"
         "&subject=Caf%C3%A9+au+lait&status=SENT",
         "/messages/outbound?count=100&offset=0&recipient=x%2By%40z.example"
         "&fromemail=a%40b.example&status=sent&fromdate=2026-11-01"
         "&todate=2026-11-30T23%3A59%3A59&subject=Caf%C3%A9%20au%20lait"
         "&messagestream=outbound");
    sent("/messages/outbound?offset=0&count=5&metadata_Customer-ID=42",
         "/messages/outbound?count=5&offset=0&metadata_Customer-ID=42");
    sent("/messages/outbound/opens?count=5&offset=0&clientName=Gmail"
         "&os_family=iOS&fromdate=2026-11-01",
         "/messages/outbound/opens?count=5&offset=0&client_name=Gmail"
         "&os_family=iOS&fromdate=2026-11-01");
    sent("/messages/inbound?count=5&offset=0&mailboxHash=abc&status=",
         "/messages/inbound?count=5&offset=0&mailboxhash=abc");
    sent("/bounces?count=5&offset=0&type=hardbounce&inactive=True"
         "&emailfilter=%40example.com&messageid=" MSG,
         "/bounces?count=5&offset=0&type=HardBounce&inactive=true"
         "&emailFilter=%40example.com&messageID=" MSG);
    sent("/bounces?messageID=" MSG, "/bounces?messageID=" MSG);
    sent("/bounces?count=5&offset=0&inactive=0",
         "/bounces?count=5&offset=0&inactive=false");
    sent("/stats/outbound/opens/readtimes?type=readtimes&fromdate=2026-01-01",
         "/stats/outbound/opens/readtimes?fromdate=2026-01-01");
    sent("/message-streams?messageStreamType=all&includeArchivedStreams=1"
         "&offset=0&count=30",
         "/message-streams?MessageStreamType=All&IncludeArchivedStreams=true");
    sent("/message-streams/outbound/suppressions/dump?suppressionReason="
         "hardbounce&origin=recipient&emailAddress=a%40b.example"
         "&fromDate=2020-02-01T00%3A00%3A00.0000000&count=100&offset=0",
         "/message-streams/outbound/suppressions/dump?SuppressionReason="
         "HardBounce&Origin=Recipient&fromdate=2020-02-01T00%3A00%3A00."
         "0000000&EmailAddress=a%40b.example&count=100&offset=0");
    sent("/messages/outbound?count=5&offset=0&todate=2026-11-30T12%3A00%3A00Z",
         "/messages/outbound?count=5&offset=0&todate=2026-11-30T12%3A00%3A00Z");

    /* dates as code writes them, sent zero-padded */

    sent("/bounces?count=5&offset=0&fromdate=2026-1-5&todate=2026-12-1+9:05",
         "/bounces?count=5&offset=0&fromdate=2026-01-05"
         "&todate=2026-12-01T09%3A05");
    sent("/bounces?count=5&offset=0&fromdate=2026-01-05T00:00Z"
         "&todate=2026-01-05T10:00:00.5+01:00",
         "/bounces?count=5&offset=0&fromdate=2026-01-05T00%3A00Z"
         "&todate=2026-01-05T10%3A00%3A00.5%2B01%3A00");
    sent("/bounces?count=5&offset=0&fromdate=2026-01-05T10:00:00%2B01:00"
         "&todate=2026-01-05T10:00:00-05:00",
         "/bounces?count=5&offset=0&fromdate=2026-01-05T10%3A00%3A00%2B01%3A00"
         "&todate=2026-01-05T10%3A00%3A00-05%3A00");

    /* the last day of each month, and February's in leap years */

    sent("/stats/outbound?fromdate=2024-02-29&todate=2026-12-31",
         "/stats/outbound?fromdate=2024-02-29&todate=2026-12-31");
    sent("/bounces?count=5&offset=0&fromdate=2000-2-29&todate=2026-04-30T23:59",
         "/bounces?count=5&offset=0&fromdate=2000-02-29"
         "&todate=2026-04-30T23%3A59");
    sent("/messages/outbound?count=5&offset=0&fromdate=2026-01-31"
         "&todate=2026-02-28",
         "/messages/outbound?count=5&offset=0&fromdate=2026-01-31"
         "&todate=2026-02-28");

    /* text of up to 512 bytes: 256 Cyrillic letters */

    {
        char  in[4096], out[4096];
        int   i, n, m;

        n = snprintf(in, sizeof(in), "/messages/outbound?count=5&offset=0"
                     "&subject=");
        m = snprintf(out, sizeof(out), "/messages/outbound?count=5&offset=0"
                     "&subject=");

        for (i = 0; i < 256; i++) {
            n += snprintf(in + n, sizeof(in) - n, "%%D0%%96");
            m += snprintf(out + m, sizeof(out) - m, "%%D0%%96");
        }

        sent(in, out);

        snprintf(in + n, sizeof(in) - n, "x");
        refused(GET, &activity, in, 400, NGX_HTTP_POSTMARK_E_QUERY,
                "\"subject\" is not valid text of up to 512 bytes");
    }
}


static void
test_activity_refused(void)
{
    /* the limits Postmark enforces, enforced here in its shape */

    refused(GET, &activity, "/messages/outbound?count=501&offset=0", 422, 700,
            "from 1 to 500");
    refused(GET, &activity, "/messages/outbound?count=500&offset=9501", 422,
            700, "may not exceed 10000");
    refused(GET, &activity, "/messages/outbound?count=1&offset=10001", 422,
            700, "from 0 to 10000");
    refused(GET, &activity, "/messages/outbound?offset=0", 422, 700,
            "count and offset are required");
    refused(GET, &activity, "/bounces?count=10", 422, 1000,
            "count and offset are required");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0"
            "&metadata_a=1&metadata_b=2", 422, 700, "only one metadata_");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0"
            "&fromdate=yesterday", 422, 700, "must be a date");

    {
        static const char  *dates[] = {
            "2026-13-01", "2026-00-10", "2026-01-32", "26-01-01",
            "20261-01-01", "2026-001-01", "2026-01-01T", "2026-01-01T10",
            "2026-01-01T24:00", "2026-01-01T10:60", "2026-01-01T10:5",
            "2026-01-01T10:00:00.", "2026-01-01T10:00.5",
            "2026-01-01T10:00:00.1234567890", "2026-01-01T10:00:00+1:00",
            "2026-01-01T10:00:00Zx", "2026-01-01-05:00", "2026/01/01",
            "2026-01-01T10:00:00+01:00:00", "2026-02-29", "2026-02-31",
            "2026-04-31", "2026-06-31T10:00", "2026-09-31", "2026-11-31",
            "2100-02-29", "1900-02-29T00:00:00Z", NULL
        };

        char  target[200];
        int   i;

        for (i = 0; dates[i]; i++) {
            snprintf(target, sizeof(target), "/bounces?count=1&offset=0"
                     "&todate=%s", dates[i]);
            refused(GET, &activity, target, 422, 1000, "must be a date");
        }
    }

    refused(GET, &activity, "/messages/outbound?count=1&offset=0"
            "&metadata_a=%00", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "\"metadata_<key>\" is not valid text");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0"
            "&messagestream.=outbound", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "invalid parameter name: \"messagestream.\"");
    refused(GET, &activity, "/messages/outbound/opens?count=1&offset=0"
            "&client_compan-y=x", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "invalid parameter name: \"client_compan-y\"");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0&status=x",
            422, 700, "status has an invalid value");
    refused(GET, &activity, "/bounces?count=1&offset=0&type=Nope", 422, 1000,
            "type has an invalid value");
    refused(GET, &activity, "/bounces?count=1&offset=0&inactive=maybe", 422,
            1000, "true or false");
    refused(GET, &activity, "/bounces?messageID=1234", 422, 1000,
            "a message's id");
    refused(GET, &activity, "/stats/outbound?messagestream=a%20b", 422, 900,
            "stream's id");

    /* names: unknown, repeated, not a name */

    refused(GET, &activity, "/messages/outbound?count=1&offset=0&server=1",
            400, NGX_HTTP_POSTMARK_E_QUERY, "\"server\" is not taken");
    refused(GET, &activity, "/messages/outbound?count=1&Count=2&offset=0",
            400, NGX_HTTP_POSTMARK_E_QUERY, "\"count\" is repeated");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0&fromDate=2026"
            "-01-01&fromdate=2026-01-02", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "\"fromdate\" is repeated");
    refused(GET, &activity, "/bounces/1?x=1", 400, NGX_HTTP_POSTMARK_E_QUERY,
            "takes no query parameters (got \"x\")");
    refused(GET, &activity, "/deliverystats?&&Tag=a&b", 400,
            NGX_HTTP_POSTMARK_E_QUERY,
            "takes no query parameters (got \"Tag\")");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0&tag=%00",
            400, NGX_HTTP_POSTMARK_E_QUERY, "not valid text");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0&tag=%ff",
            400, NGX_HTTP_POSTMARK_E_QUERY, "not valid text");
    refused(GET, &activity, "/messages/outbound?count=1&offset=0&tag=%4",
            400, NGX_HTTP_POSTMARK_E_QUERY, "not valid text");
    refused(GET, &activity, "/messages/outbound/opens?count=1&offset=0"
            "&metadata_a=1", 400, NGX_HTTP_POSTMARK_E_QUERY, "not taken");

    /* ids of the wrong shape */

    refused(GET, &activity, "/messages/outbound/1234/details", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "not a message id");
    refused(GET, &activity, "/bounces/0123", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a bounce id");
    refused(GET, &activity, "/bounces/9223372036854775808", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "not a bounce id");
    refused(GET, &activity, "/bounces/-1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a bounce id");
    refused(GET, &activity, "/message-streams/1outbound", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "not a message stream id");

    /* what writes, or reveals the agency's secrets, never passes */

    refused(GET, &all, "/server", 403, NGX_HTTP_POSTMARK_E_SECRET,
            "API tokens");
    refused(PUT, &all, "/server", 403, NGX_HTTP_POSTMARK_E_SECRET,
            "API tokens");
    refused(GET, &all, "/webhooks", 403, NGX_HTTP_POSTMARK_E_SECRET,
            "webhook credentials");
    refused(GET, &all, "/webhooks/1234", 403, NGX_HTTP_POSTMARK_E_SECRET,
            "webhook credentials");
    refused(GET, &all, "/Webhooks/1234/statistics", 403,
            NGX_HTTP_POSTMARK_E_SECRET, "webhook credentials");
    refused(PUT, &all, "/bounces/692560173/activate", 403,
            NGX_HTTP_POSTMARK_E_READ_ONLY, "reactivating a bounce");
    refused(PUT, &all, "/messages/inbound/" MSG "/bypass", 403,
            NGX_HTTP_POSTMARK_E_READ_ONLY, "bypassing");
    refused(PUT, &all, "/messages/inbound/" MSG "/retry", 403,
            NGX_HTTP_POSTMARK_E_READ_ONLY, "retrying");
    refused(POST, &all, "/message-streams/outbound/suppressions", 403,
            NGX_HTTP_POSTMARK_E_READ_ONLY, "adding suppressions");
    refused(POST, &all, "/message-streams/outbound/suppressions/delete", 403,
            NGX_HTTP_POSTMARK_E_READ_ONLY, "removing suppressions");
    refused(POST, &all, "/message-streams/outbound/archive", 403,
            NGX_HTTP_POSTMARK_E_READ_ONLY, "archiving");
    refused(POST, &all, "/message-streams", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "GET");
    refused(PATCH, &all, "/message-streams/outbound", 405,
            NGX_HTTP_POSTMARK_E_METHOD, "GET");
    refused(DELETE, &all, "/bounces/1", 405, NGX_HTTP_POSTMARK_E_METHOD,
            "GET");
    refused(POST, &all, "/email", 404, NGX_HTTP_POSTMARK_E_PATH,
            "not part of what this portal serves");
    refused(POST, &all, "/email/withTemplate", 404, NGX_HTTP_POSTMARK_E_PATH,
            "not part");
    refused(GET, &all, "/servers", 404, NGX_HTTP_POSTMARK_E_PATH, "not part");
    refused(GET, &all, "/domains", 404, NGX_HTTP_POSTMARK_E_PATH, "not part");
    refused(GET, &all, "/senders", 404, NGX_HTTP_POSTMARK_E_PATH, "not part");
    refused(GET, &all, "/triggers/inboundrules", 404,
            NGX_HTTP_POSTMARK_E_PATH, "not part");
    refused(GET, &all, "/bounces/tags", 404, NGX_HTTP_POSTMARK_E_PATH,
            "no longer");
    refused(GET, &all, "/messages/outbound/" MSG "/details/x", 404,
            NGX_HTTP_POSTMARK_E_PATH, "not part");
    refused(GET, &all, "/a/b/c/d/e/f/g", 404, NGX_HTTP_POSTMARK_E_PATH,
            "not part");

    /* the client's settings decide what its portal reaches */

    refused(GET, &ro, "/messages/outbound?count=1&offset=0", 403,
            NGX_HTTP_POSTMARK_E_SCOPE, "no access to its activity");
    refused(GET, &ro, "/stats/outbound", 403, NGX_HTTP_POSTMARK_E_SCOPE,
            "activity");
    refused(GET, &activity, "/message-streams/outbound/suppressions/dump",
            403, NGX_HTTP_POSTMARK_E_SCOPE, "suppressions");
}


/*
 * A refusal names the caller's parameter, but never carries a control
 * byte of the caller's, and never more than a bounded part of the name.
 */

static void
quoted(const char *target, const char *words)
{
    size_t                     i;
    ngx_http_postmark_route_t  rt;

    route(GET, &all, target, &rt);

    ok(rt.status == 400 && rt.error_code == NGX_HTTP_POSTMARK_E_QUERY
       && strstr(rt.message, words) != NULL,
       "a name quoted: says \"%s\" (%s)", words, rt.message);

    for (i = 0; rt.message[i]; i++) {
        if ((unsigned char) rt.message[i] < 0x20
            || (unsigned char) rt.message[i] >= 0x7f)
        {
            break;
        }
    }

    ok(rt.message[i] == '\0', "a name quoted: printable ASCII only");
}


static void
test_names_quoted(void)
{
    char  target[300];

    quoted("/messages/outbound?count=1&offset=0&a\x01" "b\x1b" "[2J=1",
           "parameter name: \"a\\x01b\\x1b[2J\"");
    quoted("/bounces/1?\x7f\xc3\xa9=1",
           "(got \"\\x7f\\xc3\\xa9\")");
    quoted("/templates?a%22b\\c=1",
           "parameter name: \"a%22b\\x5cc\"");
    quoted("/templates?a\"b=1", "parameter name: \"a\\x22b\"");
    quoted("/templates?a b=1", "parameter name: \"a\\x20b\"");

    /* a name of 200 bytes: the first 32, then "..." */

    memset(target, 0, sizeof(target));
    memcpy(target, "/templates?", 11);
    memset(target + 11, 'n', 200);
    memcpy(target + 211, "=1", 2);
    quoted(target, "name: \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\"");

    memcpy(target, "/bounces/1?", 11);
    memset(target + 11, '\x01', 200);
    quoted(target, "(got \"\\x01\\x01");
}


static void
test_targets(void)
{
    /* request targets that are refused, not normalised */

    refused(GET, &all, "/templates/../server", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "\"..\"");
    refused(GET, &all, "/templates/./1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "\".\"");
    refused(GET, &all, "/./templates", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "\".\"");
    refused(GET, &all, "/templates/%2e%2e", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "percent-encoded");
    refused(GET, &all, "/templates/%252e%252e", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "percent-encoded");
    refused(GET, &all, "/templates%2F1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "percent-encoded");
    refused(GET, &all, "/messages%2Foutbound", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "percent-encoded");
    refused(GET, &all, "/templates\\1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "backslashes");
    refused(GET, &all, "//templates", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, &all, "/templates//1", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, &all, "/templates//", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, &all, "/stats//outbound", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, &all, "/templates/1//", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "empty segment");
    refused(GET, &all, "/templates;jsessionid=1", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "\";\" parameters");
    refused(GET, &all, "/templates/1\x01", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "control bytes");
    refused(GET, &all, "/templates/a b", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "this character");
    refused(GET, &all, "/templates/0012", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a template id");
    refused(GET, &all, "/templates/-x", 400, NGX_HTTP_POSTMARK_E_TARGET,
            "not a template id");
    refused(GET, &all, "/templates/9223372036854775808", 400,
            NGX_HTTP_POSTMARK_E_TARGET, "not a template id");
    refused(GET, &all, "", 404, NGX_HTTP_POSTMARK_E_PATH, "not part");
    refused(GET, &all, "templates", 404, NGX_HTTP_POSTMARK_E_PATH,
            "not part");
}


int
main(void)
{
    test_templates();
    test_activity();
    test_activity_refused();
    test_names_quoted();
    test_targets();

    return done_testing();
}
