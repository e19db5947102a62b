
/*
 * Copyright (C) ngx_postmark_module authors
 */


/*
 * The status page (?format=html of a metrics location): one file, with no
 * asset from anywhere else, that polls the location's JSON and leads with
 * what is wrong.  It renders data with textContent only, never as HTML;
 * its Content-Security-Policy lets in nothing but its own style and
 * script, named by their SHA-256, and connections to its own origin.
 */


#include "ngx_http_postmark_http.h"


static u_char  ngx_http_postmark_page_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale="
    "1\">\n"
    "<title>Postmark webhooks</title>\n"
    "<style>";


static u_char  ngx_http_postmark_page_style[] =
    "\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2125;backg"
    "round:#f6f7f9}\n"
    "header{display:flex;gap:1.5em;align-items:baseline;padding:.8em 1.2e"
    "m;background:#1d2125;color:#fff}\n"
    "header h1{font-size:1.1em;margin:0}\n"
    "header .stale{color:#ff8a80}\n"
    "header a{color:#9ecbff}\n"
    "main{padding:1em 1.2em}\n"
    "h2{font-size:1em;margin:1.2em 0 .4em}\n"
    "#problems{display:flex;flex-wrap:wrap;gap:.5em}\n"
    ".problem{background:#ffebee;border:1px solid #e57373;border-radius:4"
    "px;padding:.3em .6em}\n"
    ".fine{background:#e8f5e9;border:1px solid #81c784;border-radius:4px;"
    "padding:.3em .6em}\n"
    "table{border-collapse:collapse;width:100%;background:#fff}\n"
    "th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #e3e"
    "5e8;white-space:nowrap}\n"
    "th{font-weight:600;background:#eceef1}\n"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".pill{border-radius:9px;padding:0 .5em;font-size:.9em}\n"
    ".closed{background:#e8f5e9}.open{background:#ffcdd2}.half_open{backg"
    "round:#fff3c4}\n";


static u_char  ngx_http_postmark_page_middle[] =
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<header><h1>Postmark webhooks</h1><span id=\"about\"></span><span id"
    "=\"updated\"></span>\n"
    "<a id=\"json\" href=\"?format=json\">JSON</a><a id=\"metrics\" href="
    "\"?\">metrics</a></header>\n"
    "<main>\n"
    "<h2>Problems</h2><div id=\"problems\"></div>\n"
    "<h2>Destinations</h2>\n"
    "<table><thead><tr><th>client</th><th>destination</th><th>host</th><t"
    "h>mode</th>\n"
    "<th>breaker</th><th>pending</th><th>in flight</th><th>delivered/s</t"
    "h>\n"
    "<th>failed attempts</th><th>p50</th></tr></thead><tbody id=\"dests\""
    "></tbody></table>\n"
    "<h2>Clients</h2>\n"
    "<table><thead><tr><th>client</th><th>events/s</th><th>unmatched</th>\n"
    "<th>destinations</th><th>pending</th><th>last event</th><th>portal c"
    "alls/s</th>\n"
    "</tr></thead><tbody id=\"clients\"></tbody></table>\n"
    "</main>\n"
    "<script>";


static u_char  ngx_http_postmark_page_script[] =
    "\n"
    "\"use strict\";\n"
    "var last = null, failed = 0;\n"
    "var FAILS = [\"4xx\", \"5xx\", \"timeout\", \"connect_error\", \"tls"
    "_error\", \"error\"];\n"
    "\n"
    "function el(tag, text, cls) {\n"
    "  var e = document.createElement(tag);\n"
    "  if (text !== undefined) e.textContent = String(text);\n"
    "  if (cls) e.className = cls;\n"
    "  return e;\n"
    "}\n"
    "function row(cells) {\n"
    "  var tr = document.createElement(\"tr\");\n"
    "  cells.forEach(function (c) { tr.appendChild(c); });\n"
    "  return tr;\n"
    "}\n"
    "function num(v) { return el(\"td\", v, \"n\"); }\n"
    "function sum(o) {\n"
    "  var s = 0;\n"
    "  for (var k in o) s += o[k];\n"
    "  return s;\n"
    "}\n"
    "/* a counter that went down was reset (a restart): no rate, never < "
    "0 */\n"
    "function rate(now, before, secs) {\n"
    "  if (before === undefined || now < before || secs <= 0) return 0;\n"
    "  return (now - before) / secs;\n"
    "}\n"
    "function fixed(v) { return (Math.round(v * 10) / 10).toFixed(1); }\n"
    "function age(iso, nowMs) {\n"
    "  if (!iso) return \"never\";\n"
    "  var s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));\n"
    "  if (s < 120) return s + \" s ago\";\n"
    "  if (s < 7200) return Math.round(s / 60) + \" min ago\";\n"
    "  return Math.round(s / 3600) + \" h ago\";\n"
    "}\n"
    "function p50(h) {\n"
    "  var n = h.count, seen = 0;\n"
    "  if (!n) return \"\";\n"
    "  for (var k in h.buckets) {\n"
    "    seen += h.buckets[k];\n"
    "    if (seen * 2 >= n) return k === \"inf\" ? \"> 30 s\" : \"\\u2264"
    " \" + k + \" ms\";\n"
    "  }\n"
    "  return \"\";\n"
    "}\n"
    "\n"
    "function render(s) {\n"
    "  var secs = last ? (s.nginx.now_msec - last.nginx.now_msec) / 1000 "
    ": 0;\n"
    "  var same = last && last.nginx.generation === s.nginx.generation;\n"
    "  var prev = same ? last : null;\n"
    "  var problems = [], dests = [], clients = [];\n"
    "\n"
    "  document.getElementById(\"about\").textContent = \"nginx \" + s.ng"
    "inx.version\n"
    "    + \", module \" + s.nginx.module_version + \", generation \"\n"
    "    + s.nginx.generation + \", \" + s.nginx.workers + \" workers\";\n"
    "\n"
    "  if (s.spool && s.spool.bytes > 0.8 * s.spool.max_size)\n"
    "    problems.push(\"the spool is \" + Math.round(100 * s.spool.bytes\n"
    "                  / s.spool.max_size) + \"% full\");\n"
    "  if (prev && s.receiver.rejected.unauthorized\n"
    "      > prev.receiver.rejected.unauthorized)\n"
    "    problems.push((s.receiver.rejected.unauthorized\n"
    "                   - prev.receiver.rejected.unauthorized)\n"
    "                  + \" webhooks with refused credentials\");\n"
    "\n"
    "  Object.keys(s.clients).sort().forEach(function (name) {\n"
    "    var c = s.clients[name], pc = prev && prev.clients[name];\n"
    "    var pending = 0, unhealthy = 0, total = 0;\n"
    "    Object.keys(c.destinations).forEach(function (dname) {\n"
    "      var d = c.destinations[dname];\n"
    "      var pd = pc && pc.destinations[dname];\n"
    "      var att = sum(d.attempts), bad = 0, pbad = 0, patt = 0;\n"
    "      FAILS.forEach(function (k) { bad += d.attempts[k];\n"
    "                                   if (pd) pbad += pd.attempts[k]; }"
    ");\n"
    "      if (pd) patt = sum(pd.attempts);\n"
    "      var dfail = pd ? Math.max(0, bad - pbad) : bad;\n"
    "      var datt = pd ? Math.max(0, att - patt) : att;\n"
    "      var sick = d.circuit_breaker !== \"closed\";\n"
    "      total++;\n"
    "      pending += d.pending;\n"
    "      if (sick) {\n"
    "        unhealthy++;\n"
    "        problems.push(name + \" / \" + dname + \": breaker \"\n"
    "                      + d.circuit_breaker.replace(\"_\", \"-\"));\n"
    "      }\n"
    "      if (d.gone || d.paused) {\n"
    "        sick = true;\n"
    "        problems.push(name + \" / \" + dname + (d.gone\n"
    "                      ? \": gone (410) until a reload\"\n"
    "                      : \": paused by Retry-After\"));\n"
    "      }\n"
    "      if (d.oldest_pending_age_seconds > 300) {\n"
    "        sick = true;\n"
    "        problems.push(name + \" / \" + dname + \": oldest pending \"\n"
    "                      + Math.round(d.oldest_pending_age_seconds / 60)\n"
    "                      + \" min\");\n"
    "      }\n"
    "      dests.push({ sick: sick, pending: d.pending, cells: [\n"
    "        el(\"td\", name), el(\"td\", dname), el(\"td\", d.host), el("
    "\"td\", d.mode),\n"
    "        (function () { var td = el(\"td\");\n"
    "                       td.appendChild(el(\"span\", d.circuit_breaker\n"
    "                                         .replace(\"_\", \"-\"),\n"
    "                                         \"pill \" + d.circuit_break"
    "er));\n"
    "                       return td; })(),\n"
    "        num(d.pending), num(d.in_flight + \" / \" + (d.max_concurren"
    "t || \"-\")),\n"
    "        num(fixed(rate(d.deliveries.delivered,\n"
    "                       pd && pd.deliveries.delivered, secs))),\n"
    "        num(datt ? Math.round(100 * dfail / datt) + \"%\" : \"-\"),\n"
    "        el(\"td\", p50(d.attempt_duration))] });\n"
    "    });\n"
    "    if (c.last_event && s.nginx.now_msec - Date.parse(c.last_event)\n"
    "        > 3600 * 1000)\n"
    "      problems.push(name + \": no event for \" + age(c.last_event,\n"
    "                                                   s.nginx.now_msec)\n"
    "                    .replace(\" ago\", \"\"));\n"
    "    var events = sum(c.events), pevents = pc ? sum(pc.events) : unde"
    "fined;\n"
    "    var portal = sum(c.portal), pportal = pc ? sum(pc.portal) : unde"
    "fined;\n"
    "    clients.push(row([el(\"td\", name), num(fixed(rate(events, peven"
    "ts, secs))),\n"
    "                      num(c.requests.unmatched),\n"
    "                      num(unhealthy ? unhealthy + \" of \" + total +"
    " \" sick\"\n"
    "                                    : total),\n"
    "                      num(pending), el(\"td\", age(c.last_event,\n"
    "                                                 s.nginx.now_msec)),\n"
    "                      num(fixed(rate(portal, pportal, secs)))]));\n"
    "  });\n"
    "\n"
    "  /* the unhealthy first, then the longest backlogs */\n"
    "  dests.sort(function (a, b) { return (b.sick - a.sick)\n"
    "                                      || (b.pending - a.pending); })"
    ";\n"
    "\n"
    "  var box = document.getElementById(\"problems\");\n"
    "  box.replaceChildren();\n"
    "  problems.forEach(function (p) { box.appendChild(el(\"span\", p,\n"
    "                                                     \"problem\")); "
    "});\n"
    "  if (!problems.length) box.appendChild(el(\"span\", \"none\", \"fin"
    "e\"));\n"
    "  document.getElementById(\"dests\").replaceChildren.apply(\n"
    "    document.getElementById(\"dests\"), dests.map(function (d) {\n"
    "      return row(d.cells); }));\n"
    "  document.getElementById(\"clients\").replaceChildren.apply(\n"
    "    document.getElementById(\"clients\"), clients);\n"
    "  last = s;\n"
    "}\n"
    "\n"
    "function poll() {\n"
    "  if (document.hidden) return;\n"
    "  fetch(\"?format=json\", { cache: \"no-store\" })\n"
    "    .then(function (r) { if (!r.ok) throw new Error(r.status); retur"
    "n r.json(); })\n"
    "    .then(function (s) {\n"
    "      failed = 0;\n"
    "      render(s);\n"
    "      var u = document.getElementById(\"updated\");\n"
    "      u.textContent = \"updated \" + new Date().toLocaleTimeString()"
    ";\n"
    "      u.className = \"\";\n"
    "    })\n"
    "    .catch(function () {\n"
    "      var u = document.getElementById(\"updated\");\n"
    "      u.textContent = \"not updated: \" + (++failed) + \" polls fail"
    "ed\";\n"
    "      u.className = \"stale\";\n"
    "    });\n"
    "}\n"
    "poll();\n"
    "setInterval(poll, 2000);\n"
    "document.addEventListener(\"visibilitychange\", poll);\n";


static u_char  ngx_http_postmark_page_tail[] =
    "</script>\n"
    "</body>\n"
    "</html>\n";



/* made once a worker: the digests of the style and the script */
static u_char  ngx_http_postmark_page_csp[256];


static ngx_int_t ngx_http_postmark_page_policy(void);
static ngx_int_t ngx_http_postmark_page_digest(u_char *dst, u_char *text,
    size_t len);


ngx_int_t
ngx_http_postmark_page(ngx_http_request_t *r)
{
    ngx_int_t     rc;
    ngx_uint_t    i;
    ngx_buf_t    *b;
    ngx_chain_t   out[5];

    static u_char  *pieces[] = {
        ngx_http_postmark_page_head, ngx_http_postmark_page_style,
        ngx_http_postmark_page_middle, ngx_http_postmark_page_script,
        ngx_http_postmark_page_tail
    };

    static size_t  sizes[] = {
        sizeof(ngx_http_postmark_page_head) - 1,
        sizeof(ngx_http_postmark_page_style) - 1,
        sizeof(ngx_http_postmark_page_middle) - 1,
        sizeof(ngx_http_postmark_page_script) - 1,
        sizeof(ngx_http_postmark_page_tail) - 1
    };

    if (ngx_http_postmark_page_csp[0] == '\0'
        && ngx_http_postmark_page_policy() != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_postmark_add_header(r, "Content-Security-Policy",
                                     (char *) ngx_http_postmark_page_csp)
           != NGX_OK
        || ngx_http_postmark_add_header(r, "X-Content-Type-Options",
                                        "nosniff") != NGX_OK
        || ngx_http_postmark_add_header(r, "Referrer-Policy", "no-referrer")
           != NGX_OK
        || ngx_http_postmark_add_header(r, "Cache-Control", "no-store")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (i = 0; i < 5; i++) {
        r->headers_out.content_length_n += sizes[i];
    }

    ngx_str_set(&r->headers_out.content_type, "text/html; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    for (i = 0; i < 5; i++) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->pos = pieces[i];
        b->last = pieces[i] + sizes[i];
        b->memory = 1;

        out[i].buf = b;
        out[i].next = (i < 4) ? &out[i + 1] : NULL;
    }

    out[4].buf->last_buf = (r == r->main);
    out[4].buf->last_in_chain = 1;

    return ngx_http_output_filter(r, &out[0]);
}


static ngx_int_t
ngx_http_postmark_page_policy(void)
{
    u_char  *p, style[64], script[64];

    if (ngx_http_postmark_page_digest(style, ngx_http_postmark_page_style,
                                      sizeof(ngx_http_postmark_page_style)
                                      - 1)
        != NGX_OK
        || ngx_http_postmark_page_digest(script,
                                         ngx_http_postmark_page_script,
                                         sizeof(ngx_http_postmark_page_script)
                                         - 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_snprintf(ngx_http_postmark_page_csp,
                     sizeof(ngx_http_postmark_page_csp) - 1,
                     "default-src 'none'; style-src 'sha256-%s'; "
                     "script-src 'sha256-%s'; connect-src 'self'; "
                     "base-uri 'none'; form-action 'none'; "
                     "frame-ancestors 'none'", style, script);
    *p = '\0';

    return NGX_OK;
}


/* the base64 of a text's SHA-256, NUL-terminated */

static ngx_int_t
ngx_http_postmark_page_digest(u_char *dst, u_char *text, size_t len)
{
    u_char     md[NGX_HTTP_POSTMARK_HASH_LEN];
    ngx_str_t  part, src, enc;

    part.data = text;
    part.len = len;

    if (ngx_http_postmark_hash(md, &part, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    src.data = md;
    src.len = sizeof(md);
    enc.data = dst;

    ngx_encode_base64(&enc, &src);
    dst[enc.len] = '\0';

    return NGX_OK;
}
