// The forwarder an agency would otherwise write with njs: the whole job
// the module does for one destination, without its guarantees.  POST only,
// the Basic credentials, the body parsed as JSON, the event type filtered,
// the event forwarded with ngx.fetch, and an answer that says whether the
// destination took it.

const TYPES = ["Bounce", "SpamComplaint", "Delivery", "Open", "Click",
               "SubscriptionChange", "Inbound"];

async function forward(r) {
    if (r.method !== "POST") {
        r.headersOut["Allow"] = "POST";
        r.return(405);
        return;
    }

    if (r.headersIn.Authorization !== "Basic " + r.variables.bench_auth) {
        r.return(401);
        return;
    }

    let ev;

    try {
        ev = JSON.parse(r.requestText);
    } catch (e) {
        r.return(400, "the body is not JSON\n");
        return;
    }

    if (ev === null || typeof ev !== "object" || Array.isArray(ev)) {
        r.return(400, "the body is not one JSON object\n");
        return;
    }

    if (!TYPES.includes(ev.RecordType || "Inbound")) {
        r.return(200, '{"status":"unmatched"}\n');
        return;
    }

    try {
        const reply = await ngx.fetch(r.variables.bench_dest, {
            method: "POST",
            body: r.requestText,
            headers: { "Content-Type": "application/json" },
        });
        const ok = reply.status >= 200 && reply.status < 300;
        r.return(ok ? 200 : 503, ok ? '{"status":"forwarded"}\n'
                                    : '{"status":"failed"}\n');
    } catch (e) {
        r.return(503, '{"status":"failed"}\n');
    }
}

export default { forward };
