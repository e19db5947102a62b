// Drives the official Postmark SDK for Node.js (postmark.js, from npm)
// against a portal's base URL, as a client's portal would: every
// Templates API call, and calls the proxy must refuse.  Prints one JSON
// line per call: what the SDK returned, or the error it threw.
//
//   node templates.js HOST[/PREFIX] PORTAL_KEY

"use strict";

const { client: portal, run } = require("./run");

const [host, key] = process.argv.slice(2);
const client = portal(host, key);

const template = {
    Name: "Onboarding",
    Subject: "Hello {{name}}",
    HtmlBody: "<p>Hello {{name}}</p>",
    TextBody: "Hello {{name}}",
    Alias: "onboarding",
};

const calls = [
    ["getTemplates", () => client.getTemplates()],
    ["getTemplates filtered", () => client.getTemplates({
        count: 5, offset: 10, templateType: "Layout",
        layoutTemplate: "my-layout" })],
    ["getTemplate id", () => client.getTemplate(1234)],
    ["getTemplate alias", () => client.getTemplate("welcome-v1")],
    ["createTemplate", () => client.createTemplate(template)],
    ["editTemplate", () => client.editTemplate("welcome-v1",
        { Subject: "Welcome, {{name}}" })],
    ["deleteTemplate", () => client.deleteTemplate(5678)],
    ["validateTemplate", () => client.validateTemplate({
        Subject: "{{name}}", HtmlBody: "<b>{{name}}</b>",
        TextBody: "{{name}}", TestRenderModel: { name: "x" } })],
    ["getTemplate of another server", () => client.getTemplate(99)],

    // what the proxy never lets through
    ["getServer", () => client.getServer()],
    ["getBounces", () => client.getBounces()],
    ["sendEmail", () => client.sendEmail({
        From: "a@example.com", To: "b@example.com", Subject: "x",
        TextBody: "x" })],
    ["sendEmailWithTemplate", () => client.sendEmailWithTemplate({
        From: "a@example.com", To: "b@example.com", TemplateId: 1234,
        TemplateModel: {} })],
    ["getTemplate with a path", () => client.getTemplate("../server")],
];

run(calls);
