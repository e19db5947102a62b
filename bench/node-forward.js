// The forwarder an agency would otherwise write with Node.js: the same
// job as bench/njs-forward.js, with a keep-alive agent to the destination.
//
//   node node-forward.js PORT DESTINATION_PORT

"use strict";

const http = require("http");

const [port, destPort] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const expected = "Basic " + Buffer.from("bench:bench").toString("base64");
const TYPES = new Set(["Bounce", "SpamComplaint", "Delivery", "Open",
                       "Click", "SubscriptionChange", "Inbound"]);

function answer(res, status, text) {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(text);
}

http.createServer((req, res) => {
    if (req.method !== "POST") {
        res.writeHead(405, { Allow: "POST" });
        res.end();
        return;
    }

    if (req.headers.authorization !== expected) {
        res.writeHead(401);
        res.end();
        return;
    }

    const chunks = [];

    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
        const body = Buffer.concat(chunks);
        let ev;

        try {
            ev = JSON.parse(body);
        } catch (e) {
            answer(res, 400, '{"status":"rejected"}\n');
            return;
        }

        if (ev === null || typeof ev !== "object" || Array.isArray(ev)) {
            answer(res, 400, '{"status":"rejected"}\n');
            return;
        }

        if (!TYPES.has(ev.RecordType || "Inbound")) {
            answer(res, 200, '{"status":"unmatched"}\n');
            return;
        }

        const out = http.request({
            host: "127.0.0.1", port: destPort, path: "/hook",
            method: "POST", agent,
            headers: { "Content-Type": "application/json",
                       "Content-Length": body.length },
        }, (reply) => {
            reply.resume();
            reply.on("end", () => {
                const ok = reply.statusCode >= 200 && reply.statusCode < 300;
                answer(res, ok ? 200 : 503,
                       ok ? '{"status":"forwarded"}\n'
                          : '{"status":"failed"}\n');
            });
        });

        out.on("error", () => answer(res, 503, '{"status":"failed"}\n'));
        out.end(body);
    });
}).listen(port, "127.0.0.1");
