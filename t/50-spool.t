#!/usr/bin/perl

# Spooled delivery: the receiver answers 200 once the event is on disk,
# and the module, not Postmark, carries it to a destination that is down
# for longer than any retry window here.  Every acknowledged event arrives
# byte for byte with the webhook-id it was answered with, exactly once
# when nothing crashed; retries carry the same webhook-id.  A direct
# destination next to a spooled one keeps its own rules.  Two workers
# take the events and share the spool and the circuit breaker.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event burst arrivals);

my $t = PostmarkTest->new;
my $down = $t->standin('down');
my $flaky = $t->standin('flaky');
my $direct = $t->standin('direct');

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=64m;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        delivery          spooled;
        retry_backoff     50ms 400ms;
        circuit_breaker   3 200ms;

        forward ${\ $down->url('/down') } { events Delivery; }
        forward ${\ $flaky->url('/flaky') } { events Open; }
        forward ${\ $direct->url('/direct') } {
            events Bounce Open;
            delivery direct;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$t->run;

# --- a destination down longer than the retry window, then back --------

$down->stop;

my $sent = burst($t, to => 60, procs => 4);
my @ok = grep { $sent->{$_}[0] == 200 } keys %$sent;

is(scalar @ok, 60, 'every event is acknowledged while the destination '
   . 'is down');

# each worker's segment is kept 1 MB (max_size / 64) ahead of its records
# by zeros, so that a sync writes data, not the file's size
my @seg = map { -s $_ } glob($t->dir . '/spool/*.seg');
ok(@seg && !grep({ $_ < 1024 * 1024 || $_ > 1024 * 1024 + 200_000 } @seg),
   'the segments have room written ahead of their records: '
   . join(', ', @seg) . ' bytes');

my $r = $t->post('/webhook', event(1000), user => 'acme',
                 password => 'secret');
my $answer = decode_json($r->{body});
is_deeply([@$answer{qw(status destinations spooled failed)}],
          ['spooled', 1, 1, 0], 'the answer says the event is spooled')
    or diag $r->{body};

# many failed attempts, and a backoff that grew up to its largest wait
ok(wait_for(sub { $t->log_lines(qr/forward to "[^"]*\/down" failed/)
                  >= 20 }, 10),
   'attempts go on while the destination is down');
ok(wait_for(sub { $t->log_lines(qr/circuit breaker open/) }, 5),
   'the circuit breaker opened');
sleep 1.5;

$down->start;

my ($count, $body);
ok(wait_for(sub { ($count) = arrivals($down); keys(%$count) >= 61 }, 20),
   'every acknowledged event arrives once the destination is back')
    or diag scalar(keys %$count) . ' arrived';

($count, $body) = arrivals($down);

my @missing = grep { !$count->{ $sent->{$_}[1] } } @ok;
is(scalar @missing, 0, 'none is missing') or diag "missing: @missing";

my @dups = grep { $count->{$_} > 1 } keys %$count;
is(scalar @dups, 0, 'none arrives twice: no crash, no lost answer');

my @wrong = grep { $body->{ $sent->{$_}[1] } ne event($_) } @ok;
is(scalar @wrong, 0, 'each arrives byte for byte under the webhook-id '
   . 'it was answered with');

ok($t->log_lines(qr/answers again: circuit breaker closed/),
   'the breaker closed again');

# --- retries carry the same webhook-id ------------------------------------

$flaky->set_mode(status => 503);

(my $open = PostmarkTest::payload('open')) =~ s/"Platform": "[^"]*"/"Platform": "retry"/;
$r = $t->post('/webhook', $open, user => 'acme', password => 'secret');
is($r->{status}, 200, 'an Open event is acknowledged');
$answer = decode_json($r->{body});
is_deeply([@$answer{qw(status destinations spooled failed)}],
          ['spooled', 2, 1, 0], 'one destination spooled, one direct')
    or diag $r->{body};

ok(wait_for(sub { $flaky->count >= 3 }, 10), 'the flaky one is retried');
my $failed = $flaky->count;
$flaky->set_mode(status => 200);
ok(wait_for(sub { $flaky->count > $failed }, 10), 'and tried again');
ok(wait_for(sub { my $n = $flaky->count; sleep 0.5; $n == $flaky->count },
            10), 'and no more: it took the event');

my @attempts = $flaky->requests;
my %ids = map { $_->{headers}{'webhook-id'} => 1 } @attempts;
is_deeply([keys %ids], [$answer->{webhook_id}],
          'every attempt carries the webhook-id of the answer');
ok(!(grep { $_->{body} ne $open } @attempts), 'and the same body');

my ($first) = $t->log_lines(qr/flaky" failed/);
like($first,
     qr/failed after \d+ ms: destination answered 503 \(event Open, webhook-id msg_[0-9a-f]{32}\); attempt 1, next in \d+ ms/,
     'a failed attempt is logged with the next one');

# retry_backoff 50ms 400ms: the second wait is 100 ms, jittered to 50-100
my @second = map { /attempt 2, next in (\d+) ms/ ? $1 : () }
             $t->log_lines(qr/flaky" failed/);
ok(@second && !(grep { $_ < 50 || $_ > 100 } @second),
   'the backoff doubles from the first: the second wait is 50-100 ms')
    or diag "second waits: @second";

# --- a failing direct destination still fails the answer ----------------

$direct->set_mode(status => 500);
$flaky->clear;

(my $open2 = $open) =~ s/"retry"/"direct-fails"/;
$r = $t->post('/webhook', $open2, user => 'acme', password => 'secret');
is($r->{status}, 503, 'a direct destination failing: 503, Postmark retries');
$answer = decode_json($r->{body});
is_deeply([@$answer{qw(status destinations spooled failed)}],
          ['failed', 2, 1, 1], 'the spooled one has it, the direct failed')
    or diag $r->{body};
ok(wait_for(sub { $flaky->count >= 1 }, 5),
   'the spooled destination gets it anyway (Postmark\'s retry would be '
   . 'a duplicate with the same webhook-id)');

# --- an answer cut inside its head is no delivery -------------------------

$direct->set_mode;
ok(wait_for(sub { my $n = $flaky->count; sleep 0.5; $n == $flaky->count },
            10), 'nothing more is sent');
$flaky->clear;
$flaky->set_mode(action => 'truncated_head');

(my $open3 = $open) =~ s/"retry"/"truncated"/;
$r = $t->post('/webhook', $open3, user => 'acme', password => 'secret');
is($r->{status}, 200, 'an event for a destination that cuts its answers');
ok(wait_for(sub { $flaky->count >= 2 }, 10),
   'a 200 cut inside its head is tried again: it is no delivery');
ok($t->log_lines(qr/flaky" failed after \d+ ms: the answer ended inside its head/),
   'and logged as such');
# (a retry may come at the very moment the mode changes: what counts is
# an answer written whole, which the cut ones never were)
$flaky->set_mode;
ok(wait_for(sub { $flaky->answered >= 1 }, 10),
   'once the destination answers whole, the event is delivered');
ok(wait_for(sub { my $n = $flaky->count; sleep 0.5; $n == $flaky->count },
            10), 'and then no more');

$t->finish(more => 1);

# --- events ready together go to disk together ----------------------------
#
# One worker, eight kept connections.  The worker is stopped while each
# sends an event, so that all eight are ready when it runs again: they go
# to disk in one write and one sync, not the first alone and the other
# seven after it.

my $g = PostmarkTest->new;
my $gsink = $g->standin('gsink');

$g->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 1;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=64m;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        delivery          spooled;
        forward ${\ $gsink->url('/hook') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$g->run;

my @conns = map {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $g->port(8080),
                          Timeout => 5) or die "connect: $!"
} 1 .. 8;

sub group_send {
    my ($s, $n) = @_;
    PostmarkTest::_write_all($s, PostmarkTest::kept_request('/webhook',
        event($n), user => 'acme', password => 'secret'));
}

sub group_answers {
    my $ok = 0;
    for my $s (@conns) {
        my $buf = '';
        my $r = PostmarkTest::_read_one($s, \$buf, 10);
        $ok++ if $r && $r->{status} == 200;
    }
    return $ok;
}

# each connection is taken by the worker first, with an event of its own
group_send($conns[$_], 2000 + $_) for 0 .. 7;
is(group_answers(), 8, 'eight kept connections, each with an event: 200');

my ($worker) = $g->worker_pids;
my $before = length $g->error_log;
kill 'STOP', $worker;
group_send($conns[$_], 2100 + $_) for 0 .. 7;
sleep 0.3;
kill 'CONT', $worker;
is(group_answers(), 8, 'eight events ready at once: 200 each');

my @writes = map { /(\d+) events, \d+ marks, \d+ bytes, synced/ ? $1 : () }
             grep { /postmark spool write of/ }
             split /\n/, substr($g->error_log, $before);
is_deeply([grep { $_ } @writes], [8],
          'they went to disk in one synced write')
    or diag "events of each write: @writes";

ok(wait_for(sub { my ($c) = arrivals($gsink); keys %$c >= 16 }, 10),
   'and all sixteen are delivered');

close $_ for @conns;
$g->finish;
