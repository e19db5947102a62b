#!/usr/bin/perl

# One worker process forwards to destinations served by that same worker.
# Anything that blocked the worker (a synchronous HTTP call, a blocking
# name lookup, a sleep) would deadlock here, because the destination could
# only answer once the forward returned.

use strict;
use warnings;

use Test::More;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time);

use PostmarkTest qw(payload read_file wait_for);

my $t = PostmarkTest->new;

$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%

    log_format body '$request_uri $http_webhook_id $request_body';

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;

        forward http://127.0.0.1:%%PORT_8081%%/sink/one { timeout 5s; }
        forward http://localhost:%%PORT_8081%%/sink/two { timeout 5s; }

        # a receiver of this same worker, one hop further
        forward http://127.0.0.1:%%PORT_8080%%/relay {
            timeout 5s;
            header Authorization "Basic Z2xvYmV4OnNlY3JldA==";
        }
    }

    postmark_client globex {
        webhook_user      globex;
        webhook_password  secret;
        forward http://127.0.0.1:%%PORT_8081%%/sink/relayed { timeout 5s; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook acme; }
        location = /relay   { postmark_webhook globex; }
    }

    server {
        listen 127.0.0.1:%%PORT_8081%%;
        client_body_buffer_size 64k;

        # the body is read (and logged) by proxying it to a location
        # that answers at once
        location /sink/ {
            access_log %%TESTDIR%%/logs/sink.log body;
            proxy_pass http://127.0.0.1:%%PORT_8081%%/void/;
        }
        location /void/ { return 204; }
    }
}
EOF

$t->run;
is(scalar $t->worker_pids, 1, 'one worker process');

my $bounce = payload('bounce');
my $r = $t->post('/webhook', $bounce, user => 'acme', password => 'secret');
is($r->{status}, 200, 'a single event: 200');
is(decode_json($r->{body})->{destinations}, 3, 'to three destinations');

# a burst of events, all in flight at once
my $burst = 40;
my (@socks, %want);
for my $i (1 .. $burst) {
    (my $body = $bounce) =~ s/"ID": \d+/"ID": 9${i}0000000000000001/;
    $want{$i} = $body;
    push @socks, [$i, $t->send_request('/webhook', $body, user => 'acme',
                                       password => 'secret')];
}

my %status;
for my $s (@socks) {
    my $r = PostmarkTest::read_response($s->[1], 30);
    $status{$s->[0]} = $r ? $r->{status} : 'none';
}

is(scalar(grep { $status{$_} eq '200' } keys %status), $burst,
   "$burst concurrent events: every one answered 200");

$t->stop;

my @lines = split /\n/, read_file($t->dir . '/logs/sink.log');
my %count;
for (@lines) {
    my ($uri) = split / /;
    $count{$uri}++;
}

is($count{'/sink/one'}, $burst + 1, 'first destination got every event');
is($count{'/sink/two'}, $burst + 1, 'second (by host name) got every event');
is($count{'/sink/relayed'}, $burst + 1,
   'relayed through a second receiver in the same worker');

my $ids = join ' ', map { (split / /)[1] } @lines;
like($ids, qr/^(msg_[0-9a-f]{32} ?)+$/, 'every forward carried a webhook-id');

$t->finish;
