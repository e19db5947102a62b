#!/usr/bin/perl

# A destination that refuses, is too slow, answers an error, resets the
# connection or cannot be resolved makes the receiver answer 503, so that
# Postmark retries; the error log says which client, which destination and
# why; and the next event goes through once the destination is back.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(payload);

my $t = PostmarkTest->new;
my $good = $t->standin('good');
my $flaky = $t->standin('flaky');

# a label over 63 characters: the resolver refuses it without any traffic
my $nowhere = 'x' x 64 . '.example';

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        forward ${\ $flaky->url('/flaky?key=QUERYSECRET') } {
            timeout 1s;
            header  Authorization "Bearer HEADERSECRET";
        }
        forward ${\ $good->url('/good') } { }
        forward ${\ $good->url('/good/again') } { }
    }

    postmark_client ghost {
        webhook_user      ghost;
        webhook_password  secret;
        forward http://$nowhere/hook { timeout 5s; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$t->run;

my $flaky_display = 'http://127.0.0.1:' . $flaky->port . '/flaky';
my $n = 0;

sub deliver {
    my ($user) = @_;
    # a different event each time, as Postmark would send
    (my $body = payload('delivery')) =~ s/"Details": "[^"]*"/"Details": "n${\ ++$n }"/;
    return $t->post('/webhook', $body, user => $user // 'acme',
                    password => 'secret');
}

sub fails_then_recovers {
    my ($name, $log_re, $break, $mend) = @_;

    $good->clear;
    $break->();

    my $r = deliver();
    is($r->{status}, 503, "$name: 503 so that Postmark retries");
    my $answer = decode_json($r->{body});
    is_deeply([@$answer{qw(status destinations failed)}], ['failed', 3, 1],
              "$name: the answer counts one failed destination of three");
    is($good->count, 2, "$name: the healthy destinations still got it");

    my @lines = $t->log_lines(qr/\[error\].*forward to/);
    like($lines[-1] // '',
         qr/postmark client "acme": forward to "\Q$flaky_display\E" failed after \d+ ms: .*$log_re.* \(event Delivery, webhook-id msg_[0-9a-f]{32}\)/,
         "$name: error log names client, destination and reason");

    $mend->();
    $flaky->clear;
    $r = deliver();
    is($r->{status}, 200, "$name: the next event goes through once back");
    is($flaky->count, 1, "$name: and reaches the destination");
}

fails_then_recovers('refused', qr/Failed to connect/,
                    sub { $flaky->stop }, sub { $flaky->start });

fails_then_recovers('too slow', qr/(?i:timed out)/,
                    sub { $flaky->set_mode(delay => 2) },
                    sub { $flaky->set_mode });

my ($slow) = $t->log_lines(qr/timed out/);
my ($ms) = $slow =~ /failed after (\d+) ms/;
ok($ms >= 900 && $ms < 3000, "too slow: the log says how long it waited ($ms ms)");

fails_then_recovers('answering 500', qr/destination answered 500/,
                    sub { $flaky->set_mode(status => 500) },
                    sub { $flaky->set_mode });

fails_then_recovers('answering 404', qr/destination answered 404/,
                    sub { $flaky->set_mode(status => 404) },
                    sub { $flaky->set_mode });

fails_then_recovers('redirecting', qr/destination answered 302/,
                    sub { $flaky->set_mode(status => 302) },
                    sub { $flaky->set_mode });

fails_then_recovers('resetting before answering', qr/.+/,
                    sub { $flaky->set_mode(action => 'reset') },
                    sub { $flaky->set_mode });

fails_then_recovers('resetting mid-response', qr/.+/,
                    sub { $flaky->set_mode(action => 'reset_mid') },
                    sub { $flaky->set_mode });

fails_then_recovers('closing without an answer', qr/Empty reply/,
                    sub { $flaky->set_mode(action => 'close') },
                    sub { $flaky->set_mode });

# "HTTP/1.1 200 OK\r\nContent-Le" and nothing more is no delivery
fails_then_recovers('a 200 cut inside its head',
                    qr/the answer ended inside its head/,
                    sub { $flaky->set_mode(action => 'truncated_head') },
                    sub { $flaky->set_mode });

# 2xx in any form is success
for my $mode ([status => 204], [status => 201], [chunked => 1]) {
    $flaky->set_mode(@$mode);
    is(deliver()->{status}, 200, "destination answering @$mode: 200");
}
$flaky->set_mode;

# both destinations down
$good->stop;
$flaky->stop;
my $r = deliver();
is($r->{status}, 503, 'both destinations down: 503');
is(decode_json($r->{body})->{failed}, 3, 'every destination counted');
$good->start;
$flaky->start;
is(deliver()->{status}, 200, 'both back: 200');

# a host name that does not resolve
$r = deliver('ghost');
is($r->{status}, 503, 'unresolvable host: 503');
like(($t->log_lines(qr/\[error\].*client "ghost"/))[-1] // '',
     qr/forward to "http:\/\/x{64}\.example\/hook" failed after \d+ ms: Could not resolve host/,
     'unresolvable host: logged');

# secrets in the destination's URL query and headers are never logged
my @ours = $t->module_log_lines;
ok(!grep({ /QUERYSECRET|HEADERSECRET/ } @ours),
   'neither the URL query nor header values appear in the log');

$t->finish;
