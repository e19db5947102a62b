#!/usr/bin/perl

# A slow or hanging destination never delays another's events: 40
# destinations that accept and never answer, and a client with
# "max_concurrent 300" hanging too, take at most their share of the
# worker's connections.  Meanwhile a healthy direct client, a healthy
# spooled one and a portal's Templates call go through before any of the
# hanging attempts has even timed out, and the log says what happened.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(wait_for blackhole blackhole_paths stop_server payload);
use PostmarkTest::PostmarkApi;
use PostmarkTest::Spool qw(event burst);

my $t = PostmarkTest->new;
my $ok = $t->standin('ok');
my $api = $t->standin('api', handler => PostmarkTest::PostmarkApi::handler(
                                 tokens => ['the-real-server-token']));

my $hole_port = PostmarkTest::free_port();
my $holes = $t->dir . '/holes';
my $hole = blackhole($hole_port, $holes);

my $forwards = join "\n", map {
    "        forward http://127.0.0.1:$hole_port/hang/$_ { }"
} 1 .. 40;

# one worker of 512 connections: transfers get 256, forwards 224 of them
$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 512; }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=256m;
    postmark_api_url ${\ $api->url('') };

    postmark_client hanging {
        webhook_user      hanging;
        webhook_password  secret;
        delivery          spooled;
$forwards
    }

    postmark_client greedy {
        webhook_user      greedy;
        webhook_password  secret;
        delivery          spooled;
        max_concurrent    300;
        forward http://127.0.0.1:$hole_port/greedy { }
    }

    postmark_client direct {
        webhook_user      direct;
        webhook_password  secret;
        forward ${\ $ok->url('/direct') } { }
    }

    postmark_client spooled {
        webhook_user      spooled;
        webhook_password  secret;
        delivery          spooled;
        forward ${\ $ok->url('/spooled') } { }
    }

    postmark_client portal {
        server_token      the-real-server-token;
        portal_key        the-portal-key-of-acme;
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location /portal/ { postmark_portal portal; }
    }
}
EOF

$t->run;

sub held {
    my $p = blackhole_paths($holes);
    my $all = 0;
    $all += $_ for values %$p;
    return ($all, $p->{'/greedy'} // 0, scalar grep { m{^/hang/} } keys %$p);
}

# until what the black hole holds stops changing
sub settled {
    my $last = '';
    wait_for(sub {
        my $now = join ' ', held();
        my $same = ($now eq $last);
        $last = $now;
        sleep 0.3 unless $same;
        return $same;
    }, 8);
    return held();
}

# the greedy client first, with 300 events and max_concurrent 300 ...
my $b2 = burst($t, from => 100, to => 400, procs => 4, user => 'greedy');
is(scalar(grep { $_->[0] == 200 } values %$b2), 300,
   'the greedy client\'s events are acknowledged: they are spooled');

my ($all, $greedy, $lanes) = settled();
note("alone, the greedy destination holds $greedy connections");
cmp_ok($greedy, '<=', 224 / 2, 'max_concurrent 300 alone is bounded by a '
       . 'fair share of the forwards');

# ... then 10 events for each of 40 hanging destinations
my $b1 = burst($t, to => 10, procs => 2, user => 'hanging');
is(scalar(grep { $_->[0] == 200 } values %$b1), 10,
   'the hanging client\'s events are acknowledged: they are spooled');

ok(wait_for(sub { my ($all, $g, $n) = held(); $n == 40 }, 10),
   'every hanging destination is being tried, greedy or not');
($all, $greedy, $lanes) = settled();
note("the hanging destinations hold $all connections, $greedy of them the "
     . "greedy one's");
cmp_ok($all, '<=', 224, 'together they hold no more than the forwards\' '
       . 'share of the worker\'s connections');
my $per = blackhole_paths($holes);
ok(!grep({ $per->{$_} > 8 } grep { m{^/hang/} } keys %$per),
   'no hanging destination goes past its max_concurrent of 8');

# while they hang (their timeout is 10 s), the healthy go through

my $r = $t->post('/webhook', payload('delivery'), user => 'direct',
                 password => 'secret');
is($r->{status}, 200, 'a healthy direct client: 200');
is($ok->count, 1, 'and its destination has the event');

$r = $t->post('/webhook', event(1000), user => 'spooled',
              password => 'secret');
is($r->{status}, 200, 'a healthy spooled client: 200');
ok(wait_for(sub { $ok->count == 2 }, 5), 'and it is delivered');

$r = $t->post('/portal/templates?Count=10&Offset=0', undef, method => 'GET',
              headers => { 'X-Postmark-Server-Token'
                           => 'the-portal-key-of-acme' });
is($r->{status}, 200, 'a Templates call: 200');

my @timeouts = $t->log_lines(qr/hang\/\d+" failed/);
is(scalar @timeouts, 0, 'all before any hanging attempt timed out')
    or diag join "\n", @timeouts[0 .. 2];

# then they time out, and the log says so truthfully

ok(wait_for(sub { $t->log_lines(qr/hang\/\d+" failed after \d+ ms: .*timed out/i) }, 20),
   'hanging attempts end at their timeout, logged as timed out');
ok(!$t->log_lines(qr/Failed to resolve host/),
   'nothing says a literal address failed to resolve');

stop_server($hole);
$t->finish;
