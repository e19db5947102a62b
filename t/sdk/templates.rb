# Drives the official Postmark gem (Debian's ruby-postmark) against a
# portal's base URL, as a client's portal would: every Templates API call,
# and calls the proxy must refuse.  Prints one JSON line per call: what the
# gem returned, or the error it raised.
#
#   ruby templates.rb HOST PORT PATH_PREFIX PORTAL_KEY

require_relative 'run'

client = portal_client(*ARGV)

calls = [
  ['get_templates', -> { client.get_templates }],
  ['get_templates filtered', -> { client.get_templates(count: 5, offset: 10) }],
  ['get_template id', -> { client.get_template(1234) }],
  ['get_template alias', -> { client.get_template('welcome-v1') }],
  ['create_template', -> {
    client.create_template(name: 'Onboarding', subject: 'Hello {{name}}',
                           html_body: '<p>Hello {{name}}</p>',
                           text_body: 'Hello {{name}}', alias: 'onboarding')
  }],
  ['update_template', -> {
    client.update_template('welcome-v1', subject: 'Welcome, {{name}}')
  }],
  ['delete_template', -> { client.delete_template(5678) }],
  ['validate_template', -> {
    client.validate_template(subject: '{{name}}', html_body: '<b>{{name}}</b>',
                             text_body: '{{name}}',
                             test_render_model: { name: 'x' })
  }],
  ['get_template of another server', -> { client.get_template(99) }],

  # what the proxy never lets through
  ['server_info', -> { client.server_info }],
  ['get_bounces', -> { client.get_bounces }],
  ['deliver', -> {
    client.deliver(from: 'a@example.com', to: 'b@example.com', subject: 'x',
                   text_body: 'x')
  }],
]

run(calls)
