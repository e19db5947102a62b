// What the SDK scripts share: a client of the official Postmark SDK for
// Node.js (postmark.js, from npm) pointed at a portal's base URL, and the
// run of a list of calls, one JSON line per call: what the SDK returned,
// or the error it threw.

"use strict";

const postmark = require("postmark");

exports.client = (host, key) => new postmark.ServerClient(key, {
    requestHost: host,
    useHttps: false,
    timeout: 20,
});

exports.run = async (calls) => {
    for (const [name, call] of calls) {
        try {
            const result = await call();
            console.log(JSON.stringify({ call: name, ok: true, result }));
        } catch (e) {
            console.log(JSON.stringify({
                call: name, ok: false, error: e.name,
                status: e.statusCode, code: e.code, message: e.message,
            }));
        }
    }
};
