# Drives the official Postmark gem (Debian's ruby-postmark) against one
# portal location that serves a client's templates (full) and its
# activity together: both kinds of call through the same client, one
# after the other.  Prints one JSON line per call: what the gem returned,
# or the error it raised.
#
#   ruby portal.rb HOST PORT PATH_PREFIX PORTAL_KEY

require_relative 'run'

client = portal_client(*ARGV)

msg = '0ac29aee-e1cd-480d-b08d-4f48548ff48d'

calls = [
  ['get_templates', -> { client.get_templates }],
  ['get_bounces', -> { client.get_bounces }],
  ['create_template', -> {
    client.create_template(name: 'Onboarding', subject: 'Hello {{name}}',
                           html_body: '<p>Hello {{name}}</p>',
                           text_body: 'Hello {{name}}', alias: 'onboarding')
  }],
  ['delivery_stats', -> { client.delivery_stats }],
  ['update_template', -> {
    client.update_template('welcome-v1', subject: 'Welcome, {{name}}')
  }],
  ['get_stats_totals', -> { client.get_stats_totals }],
  ['delete_template', -> { client.delete_template(5678) }],
  ['get_message', -> { client.get_message(msg) }],
  ['get_template', -> { client.get_template('welcome-v1') }],

  # what the proxy never lets through, whatever the client was given
  ['server_info', -> { client.server_info }],
  ['deliver_with_template', -> {
    client.deliver_with_template(from: 'a@example.com', to: 'b@example.com',
                                 template_id: 1234, template_model: {})
  }],
]

run(calls)
