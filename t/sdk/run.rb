# What the SDK scripts share: a client of the official Postmark gem
# (Debian's ruby-postmark) pointed at a portal's base URL, and the run of a
# list of calls, one JSON line per call: what the gem returned, or the
# error it raised.

require 'json'
require 'postmark'

def portal_client(host, port, prefix, key)
  Postmark::ApiClient.new(key, host: host, port: port.to_i, secure: false,
                               path_prefix: prefix, http_read_timeout: 20)
end

def run(calls)
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
                         status: e.respond_to?(:status_code) ? e.status_code
                                                             : nil,
                         code: code, message: e.message)
    end
  end
end
