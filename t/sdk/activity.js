// Drives the official Postmark SDK for Node.js (postmark.js, from npm)
// against a portal's base URL, as a client's portal would: every call of
// a "server viewer" (messages, opens, clicks, inbound, bounces, stats,
// message streams, suppressions), and the calls the proxy must refuse.
// Prints one JSON line per call: what the SDK returned, or the error it
// threw.
//
//   node activity.js HOST[/PREFIX] PORTAL_KEY

"use strict";

const { client: portal, run } = require("./run");

const [host, key] = process.argv.slice(2);
const client = portal(host, key);

const MSG = "0ac29aee-e1cd-480d-b08d-4f48548ff48d";
const INBOUND = "73e6d360-66eb-11e1-8e72-a8904824019b";
const BOUNCE = 4323372036854775807n;
const range = { fromDate: "2026-11-01", toDate: "2026-11-30" };

const calls = [
    ["getOutboundMessages", () => client.getOutboundMessages()],
    ["getOutboundMessages filtered", () => client.getOutboundMessages({
        count: 20, offset: 40, recipient: "john@example.com",
        fromEmail: "hello@acme.example", tag: "welcome-email",
        status: "sent", subject: "Welcome aboard",
        messageStream: "outbound", ...range,
        "metadata_customer-id": "42" })],
    ["getOutboundMessageDetails",
        () => client.getOutboundMessageDetails(MSG)],
    ["getOutboundMessageDump", () => client.getOutboundMessageDump(MSG)],
    ["getMessageOpens", () => client.getMessageOpens({
        count: 10, client_name: "Gmail", os_family: "Android",
        platform: "Mobile" })],
    ["getMessageOpensForSingleMessage",
        () => client.getMessageOpensForSingleMessage(MSG)],
    ["getMessageClicks", () => client.getMessageClicks({ city: "Novi Sad" })],
    ["getMessageClicksForSingleMessage",
        () => client.getMessageClicksForSingleMessage(MSG)],
    ["getInboundMessages", () => client.getInboundMessages({
        mailboxHash: "abc", status: "processed" })],
    ["getInboundMessageDetails",
        () => client.getInboundMessageDetails(INBOUND)],
    ["getDeliveryStatistics", () => client.getDeliveryStatistics()],
    ["getBounces", () => client.getBounces({
        type: "HardBounce", inactive: true, emailFilter: "example.com" })],
    ["getBounces of a message", () => client.getBounces({ messageID: MSG })],
    ["getBounce", () => client.getBounce(BOUNCE.toString())],
    ["getBounceDump", () => client.getBounceDump(BOUNCE.toString())],
    ["getOutboundOverview", () => client.getOutboundOverview({
        tag: "welcome-email", messageStream: "outbound", ...range })],
    ["getSentCounts", () => client.getSentCounts(range)],
    ["getBounceCounts", () => client.getBounceCounts()],
    ["getSpamComplaintsCounts", () => client.getSpamComplaintsCounts()],
    ["getTrackedEmailCounts", () => client.getTrackedEmailCounts()],
    ["getEmailOpenCounts", () => client.getEmailOpenCounts()],
    ["getEmailOpenPlatformUsage", () => client.getEmailOpenPlatformUsage()],
    ["getEmailOpenClientUsage", () => client.getEmailOpenClientUsage()],
    ["getEmailOpenReadTimes", () => client.getEmailOpenReadTimes()],
    ["getClickCounts", () => client.getClickCounts()],
    ["getClickBrowserUsage", () => client.getClickBrowserUsage()],
    ["getClickPlatformUsage", () => client.getClickPlatformUsage()],
    ["getClickLocation", () => client.getClickLocation()],
    ["getMessageStreams", () => client.getMessageStreams({
        messageStreamType: "Transactional",
        includeArchivedStreams: true })],
    ["getMessageStream", () => client.getMessageStream("outbound")],
    ["getSuppressions", () => client.getSuppressions("outbound", {
        suppressionReason: "HardBounce", origin: "Recipient" })],
    ["getOutboundMessageDetails of another server",
        () => client.getOutboundMessageDetails(INBOUND)],

    // what the proxy never lets through
    ["getServer", () => client.getServer()],
    ["editServer", () => client.editServer({
        BounceHookUrl: "https://evil.example/hook" })],
    ["getWebhooks", () => client.getWebhooks()],
    ["getWebhook", () => client.getWebhook(1234)],
    ["createWebhook", () => client.createWebhook({
        Url: "https://evil.example/hook" })],
    ["editWebhook", () => client.editWebhook(1234, {
        Url: "https://evil.example/hook" })],
    ["deleteWebhook", () => client.deleteWebhook(1234)],
    ["activateBounce", () => client.activateBounce(BOUNCE.toString())],
    ["bypassBlockedInboundMessage",
        () => client.bypassBlockedInboundMessage(INBOUND)],
    ["retryInboundHookForMessage",
        () => client.retryInboundHookForMessage(INBOUND)],
    ["createSuppressions", () => client.createSuppressions("outbound", {
        Suppressions: [{ EmailAddress: "a@example.com" }] })],
    ["deleteSuppressions", () => client.deleteSuppressions("outbound", {
        Suppressions: [{ EmailAddress: "a@example.com" }] })],
    ["createMessageStream", () => client.createMessageStream({
        ID: "x", Name: "x", MessageStreamType: "Broadcasts" })],
    ["editMessageStream", () => client.editMessageStream("outbound",
        { Name: "x" })],
    ["archiveMessageStream", () => client.archiveMessageStream("outbound")],
    ["unarchiveMessageStream",
        () => client.unarchiveMessageStream("outbound")],
    ["sendEmail", () => client.sendEmail({
        From: "a@example.com", To: "b@example.com", Subject: "x",
        TextBody: "x" })],
    ["getOutboundMessages beyond Postmark's limits",
        () => client.getOutboundMessages({ count: 500, offset: 9600 })],
];

run(calls);
