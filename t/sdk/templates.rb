# Drives the official Postmark gem (Debian's ruby-postmark) against a
# portal's base URL, as a client's portal would: every Templates API call,
# and calls the proxy must refuse.  Prints one JSON line per call: what the
# gem returned, or the error it raised.
#
#   ruby templates.rb HOST PORT PATH_PREFIX PORTAL_KEY

require 'json'
require 'postmark'

host, port, prefix, key = ARGV

client = Postmark::ApiClient.new(key, host: host, port: port.to_i,
                                 secure: false, path_prefix: prefix,
                                 http_read_timeout: 20)

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

calls.each do |name, call|
  begin
    result = call.call
    puts JSON.generate(call: name, ok: true, result: result)
  rescue Postmark::Error => e
    # the gem keeps ErrorCode as error_code for 422s, in the body for others
    body = e.respond_to?(:parsed_body) ? e.parsed_body : {}
    code = e.respond_to?(:error_code) ? e.error_code : nil
    code ||= body['ErrorCode'] if body.is_a?(Hash)
    puts JSON.generate(call: name, ok: false, error: e.class.name,
                       status: e.respond_to?(:status_code) ? e.status_code : nil,
                       code: code, message: e.message)
  end
end
