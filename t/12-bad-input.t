#!/usr/bin/perl

# Bad requests get a precise status and a message that says what is wrong;
# nothing is forwarded, no secret shows, and nginx keeps serving.  At the
# error_log level the docs recommend, nginx's own lines show none either.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use IO::Socket::INET;

use PostmarkTest qw(payload read_file);

my $t = PostmarkTest->new;
my $sink = $t->standin('sink');

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  "correct horse";
        forward ${\ $sink->url('/hook') } { }
    }

    postmark_client globex {
        webhook_user      globex;
        webhook_password  battery-staple;
        forward ${\ $sink->url('/globex') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        client_max_body_size 64k;

        location = /webhook { postmark_webhook; }
    }
}
EOF

$t->run;

my %acme = (user => 'acme', password => 'correct horse');
my $bounce = payload('bounce');

sub still_serving {
    my ($name) = @_;
    my $r = $t->post('/webhook', $bounce, %acme);
    is($r && $r->{status}, 200, "$name: nginx still serves");
}

sub refused {
    my ($name, $status, $outcome, $re, $body, %opt) = @_;
    $sink->clear;
    my $r = $t->post('/webhook', $body, %opt);
    is($r->{status}, $status, "$name: $status");
    is($r->{headers}{'content-type'}, 'application/json',
       "$name: a JSON answer");
    my $answer = eval { decode_json($r->{body}) } || {};
    is($answer->{status}, $outcome, "$name: status \"$outcome\"");
    like($answer->{message} // '', $re, "$name: the message says why");
    is($sink->count, 0, "$name: nothing forwarded");
    unlike($r->{raw}, qr/correct horse|battery-staple/,
           "$name: no password in the answer");
    still_serving($name);
    return $r;
}

# credentials

my $r = refused('no credentials', 401, 'unauthorized', qr/credentials/,
                $bounce);
is($r->{headers}{'www-authenticate'}, 'Basic realm="postmark"',
   'no credentials: WWW-Authenticate asks for Basic');

refused('wrong password', 401, 'unauthorized', qr/credentials/, $bounce,
        user => 'acme', password => 'battery-staple');
refused('unknown user', 401, 'unauthorized', qr/credentials/, $bounce,
        user => 'initech', password => 'correct horse');
refused('user of one, password of another', 401, 'unauthorized',
        qr/credentials/, $bounce, user => 'globex',
        password => 'correct horse');
refused('empty password', 401, 'unauthorized', qr/credentials/, $bounce,
        user => 'acme', password => '');
refused('not Basic', 401, 'unauthorized', qr/credentials/, $bounce,
        headers => { Authorization => 'Bearer correct horse' });
refused('Basic, not base64', 401, 'unauthorized', qr/credentials/, $bounce,
        headers => { Authorization => 'Basic !!!notbase64' });

# methods: Postmark only ever POSTs

for my $method (qw(GET PUT DELETE PATCH OPTIONS)) {
    my $r = refused($method, 405, 'method_not_allowed', qr/POST/,
                    $method eq 'GET' ? undef : $bounce, %acme,
                    method => $method);
    is($r->{headers}{allow}, 'POST', "$method: Allow: POST");
}

$r = $t->post('/webhook', undef, %acme, method => 'HEAD');
is($r->{status}, 405, 'HEAD: 405');

# bodies that are not one JSON object

my @bodies = (
    ['not JSON', 'RecordType=Bounce&ID=1', qr/^request body is not valid JSON \(at byte 0\)$/],
    ['truncated JSON', substr($bounce, 0, 200), qr/^request body is not valid JSON \(at byte \d+\)$/],
    ['JSON array', "[$bounce]", qr/^request body is JSON but not an object$/],
    ['JSON string', '"Bounce"', qr/^request body is JSON but not an object$/],
    ['JSON number', '4323372036854775807', qr/not an object/],
    ['JSON null', 'null', qr/not an object/],
    ['two objects', "$bounce$bounce", qr/^request body has data after the JSON object \(at byte \d+\)$/],
    ['object and garbage', "$bounce xyz", qr/data after the JSON object/],
    ['RecordType a number', '{"RecordType": 5}', qr/^RecordType is not a non-empty string$/],
    ['RecordType empty', '{"RecordType": ""}', qr/RecordType/],
    ['only blanks', "  \r\n\t ", qr/not valid JSON/],
    ['NUL after', "{\"RecordType\":\"Bounce\"}\0{}", qr/^request body has data after the JSON object \(at byte 23\)$/],
    ['control byte in a string', "{\"RecordType\":\"Bou\001nce\"}", qr/^request body is not valid JSON \(at byte 18\)$/],
    ['deep nesting', ('[' x 5000) . (']' x 5000), qr/^request body is nested deeper than JSON parsers go \(at byte 1000\)$/],

    # what JSON parsers read differently from the filters, or refuse
    ['RecordType twice', '{"RecordType":"Bounce","RecordType":"Delivery"}', qr/^request body has a member twice, which JSON parsers read differently: "RecordType" \(at byte 23\)$/],
    ['RecordType twice, once escaped', '{"RecordType":"Bounce","Record\\u0054ype":"Open"}', qr/twice.*"RecordType"/],
    ['MessageStream twice', '{"RecordType":"Open","MessageStream":"outbound","MessageStream":"broadcast"}', qr/twice.*"MessageStream"/],
    ['Tag twice', '{"RecordType":"Open","Tag":"a","Tag":"b"}', qr/twice.*"Tag"/],
    ['Metadata twice', '{"RecordType":"Open","Metadata":{},"Metadata":{"a":"1"}}', qr/twice.*"Metadata"/],
    ['a Metadata key twice', '{"RecordType":"Open","Metadata":{"a":"1","a":"2"}}', qr/twice.*"Metadata"/],
    ['an escaped NUL in RecordType', '{"RecordType":"Bounce\\u0000Delivery"}', qr/^request body has an escaped NUL \(\\u0000\) in a member the filters read: "RecordType" \(at byte 15\)$/],
    ['an escaped NUL in Tag', '{"RecordType":"Open","Tag":"a\\u0000b"}', qr/escaped NUL.*"Tag"/],
    ['an escaped NUL in Metadata', '{"RecordType":"Open","Metadata":{"a":"\\u0000"}}', qr/escaped NUL.*"Metadata"/],
    ['a byte-order mark', "\xEF\xBB\xBF$bounce", qr/^request body starts with a byte-order mark, which JSON parsers refuse \(at byte 0\)$/],
    ['\\uZZZZ', '{"RecordType":"Open","Tag":"\\uZZZZ"}', qr/^request body is not valid JSON \(at byte 28\)$/],
    ['\\u00zz', '{"RecordType":"Open","x":"\\u00zz"}', qr/^request body is not valid JSON \(at byte 26\)$/],
    ['invalid UTF-8', "{\"RecordType\":\"Open\",\"x\":\"\xff\"}", qr/^request body is not valid JSON \(at byte 26\)$/],
    ['a leading zero', '{"RecordType":"Open","ID":01}', qr/not valid JSON \(at byte 27\)/],
);

for my $case (@bodies) {
    my ($name, $body, $re) = @$case;
    refused($name, 400, 'rejected', $re, $body, %acme);
}

# a lone surrogate escape is valid JSON, and forwarded as it came
$sink->clear;
my $lone = '{"RecordType":"Open","Tag":"\\ud800","MessageID":"a","MessageID":"b"}';
$r = $t->post('/webhook', $lone, %acme);
is($r->{status}, 200, 'a lone surrogate, and MessageID twice: 200');
is(($sink->wait_requests(1))[0]{body}, $lone, 'and forwarded byte for byte');

# trailing blanks after the object are fine: some senders end with "\n"
$sink->clear;
$r = $t->post('/webhook', "$bounce\r\n\n", %acme);
is($r->{status}, 200, 'object followed by blanks: 200');

# too large: nginx answers 413 before the module reads anything
$r = $t->post('/webhook', '{"x":"' . ('a' x 70000) . '"}', %acme);
is($r->{status}, 413, 'over client_max_body_size: 413');
still_serving('after 413');

# a client that goes away mid-body leaves nginx serving
my $s = $t->send_request('/webhook', $bounce, %acme,
                         parts => [substr($bounce, 0, 100)]);
close $s;
still_serving('client gone mid-body');

# the error log says why, never with a password
my $log = $t->error_log;
like($log, qr/\[error\].*wrong password for the webhook user of client "acme"/,
     'wrong password logged with the client name');
like($log, qr/\[error\].*unknown webhook user/, 'unknown user logged');
like($log, qr/\[info\].*rejected: request body is JSON but not an object/,
     'rejected body logged at info');

# nginx's own debug lines show request headers; the module's never do
my @ours = $t->module_log_lines;
ok(!grep({ /correct horse|battery-staple|Y29ycmVjdCBob3JzZ/ } @ours),
   'no password, plain or encoded, in the module\'s log lines');

$t->finish(more => 1);

# --- a request with Authorization twice ----------------------------------
#
# nginx itself logs a repeated header with both values at "info"; the
# level docs/reference.md recommends, "notice", keeps them out.  Two
# servers, one at each level, get the same request.

my $u = PostmarkTest->new(log_level => 'notice');
$u->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  "correct horse";
        forward ${\ $sink->url('/hook') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8081%%;
        error_log %%TESTDIR%%/logs/notice.log notice;
        location = /webhook { postmark_webhook; }
    }

    server {
        listen 127.0.0.1:%%PORT_8082%%;
        error_log %%TESTDIR%%/logs/info.log info;
        location = /webhook { postmark_webhook; }
    }
}
EOF
$u->run;

require MIME::Base64;
my $basic = MIME::Base64::encode_base64('acme:correct horse', '');
my $secret = qr/correct horse|\Q$basic\E/;

for my $port (8081, 8082) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $u->port($port))
        or die "connect: $!";
    print $c "POST /webhook HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nAuthorization: Basic $basic\r\n"
        . "Authorization: Basic $basic\r\n"
        . 'Content-Length: ' . length($bounce) . "\r\n\r\n$bounce";
    my $r = PostmarkTest::read_response($c, 10);
    is($r && $r->{status}, 400, "Authorization twice (port $port): 400 from "
       . 'nginx');
}

my $info = read_file($u->dir . '/logs/info.log');
like($info, qr/\[info\].*client sent duplicate header line: "Authorization: Basic \Q$basic\E"/,
     'at info, nginx logs the repeated credentials, as the docs warn');

# the notice server's log is the one its requests go to
$r = $u->post('/webhook', $bounce, port => $u->port(8081), user => 'acme',
              password => 'wrong');
is($r->{status}, 401, 'a wrong password at the notice server: 401');
my $notice = read_file($u->dir . '/logs/notice.log');
like($notice, qr/\[error\].*wrong password for the webhook user of client "acme"/,
     'logged in its error log');
unlike($notice, $secret, 'at notice, no credentials in the error log');
unlike($u->error_log, $secret, 'nor in the main error log');

$u->finish;
