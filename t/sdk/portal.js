// Drives the official Postmark SDK for Node.js (postmark.js, from npm)
// against one portal location that serves a client's templates (full)
// and its activity together, as a portal that edits the templates and
// shows what bounced would: both kinds of call through the same client,
// one after the other.  Prints one JSON line per call: what the SDK
// returned, or the error it threw.
//
//   node portal.js HOST[/PREFIX] PORTAL_KEY

"use strict";

const { client: portal, run } = require("./run");

const [host, key] = process.argv.slice(2);
const client = portal(host, key);

const MSG = "0ac29aee-e1cd-480d-b08d-4f48548ff48d";

const calls = [
    ["getTemplates", () => client.getTemplates()],
    ["getBounces", () => client.getBounces()],
    ["createTemplate", () => client.createTemplate({
        Name: "Onboarding", Subject: "Hello {{name}}",
        HtmlBody: "<p>Hello {{name}}</p>", TextBody: "Hello {{name}}",
        Alias: "onboarding" })],
    ["getDeliveryStatistics", () => client.getDeliveryStatistics()],
    ["editTemplate", () => client.editTemplate("welcome-v1",
        { Subject: "Welcome, {{name}}" })],
    ["getOutboundOverview", () => client.getOutboundOverview()],
    ["deleteTemplate", () => client.deleteTemplate(5678)],
    ["getOutboundMessageDetails",
        () => client.getOutboundMessageDetails(MSG)],
    ["getTemplate", () => client.getTemplate("welcome-v1")],

    // what the proxy never lets through, whatever the client was given
    ["getServer", () => client.getServer()],
    ["sendEmailWithTemplate", () => client.sendEmailWithTemplate({
        From: "a@example.com", To: "b@example.com", TemplateId: 1234,
        TemplateModel: {} })],
];

run(calls);
