#!/usr/bin/perl

# How spooled deliveries treat a destination: Retry-After on 429 and 503
# pauses it; 410 Gone stops it until the next reload; max_concurrent caps
# the attempts under way (the stand-in counts them), and those waiting for
# their first keep their event in memory; a slow destination
# does not hold back another's deliveries; the circuit breaker opens after
# failures in a row, probes, and closes when the destination answers.
# Timing bounds are loose, and everything is polled.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use PostmarkTest qw(payload wait_for);
use PostmarkTest::Spool qw(event burst arrivals);

my $t = PostmarkTest->new;
my %s = map { $_ => $t->standin($_) } qw(limited gone capped slow fast
                                         broken);

my $client = 0;

sub client {
    my ($name, $body) = @_;
    $client++;
    return <<"EOF";
    postmark_client $name {
        webhook_user      $name;
        webhook_password  secret;
        delivery          spooled;
        retry_backoff     100ms 1s;
$body
    }
EOF
}

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=64m;

${\ client('limited', "forward ${\ $s{limited}->url('/') } { }") }
${\ client('gone', "forward ${\ $s{gone}->url('/') } { }") }
${\ client('capped', "forward ${\ $s{capped}->url('/') } { max_concurrent 2; }") }
${\ client('pair', "forward ${\ $s{slow}->url('/') } { max_concurrent 1; }
        forward ${\ $s{fast}->url('/') } { }") }
${\ client('broken', "circuit_breaker 3 300ms;
        forward ${\ $s{broken}->url('/') } { }") }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$t->run;

sub send_as {
    my ($user, $n) = @_;
    my $r = $t->post('/webhook', event($n), user => $user,
                     password => 'secret');
    return $r && $r->{status};
}

# --- 429 with Retry-After ---------------------------------------------

$s{limited}->set_mode(status => 429, headers => { 'Retry-After' => 2 });
is(send_as('limited', 1), 200, '429: the event is acknowledged');
ok(wait_for(sub { $s{limited}->count >= 1 }, 5), '429: first attempt');
$s{limited}->set_mode(status => 200);
is(send_as('limited', 2), 200, '429: a second event is acknowledged');

ok(wait_for(sub { $s{limited}->count >= 3 }, 10),
   '429: both events arrive after the pause');
my @r = $s{limited}->requests;
my $gap = $r[1]{time} - $r[0]{time};
cmp_ok($gap, '>=', 1.8, sprintf('429: nothing was sent during the %.1f s '
       . 'that Retry-After asked for', $gap));
cmp_ok($gap, '<', 6, '429: and the pause ended');
ok($t->log_lines(qr/answered 429 .*Retry-After: deliveries to it pause for 2 s/),
   '429: the pause is logged');

# --- 410 Gone -------------------------------------------------------------

$s{gone}->set_mode(status => 410);
is(send_as('gone', 10), 200, '410: the event is acknowledged');
ok(wait_for(sub { $t->log_lines(qr/410 Gone: no more deliveries to it until nginx is reloaded/) }, 5),
   '410: the destination is stopped, and the log says so');

is(send_as('gone', 11), 200, '410: later events are still acknowledged');
sleep 1;
is($s{gone}->count, 1, '410: and nothing more is sent to it');

$s{gone}->set_mode(status => 200);
$t->reload;

ok(wait_for(sub { $s{gone}->count >= 3 }, 10),
   '410: after a reload both events are delivered');
my ($count) = arrivals($s{gone});
is(scalar keys %$count, 2, '410: two distinct events');

# --- the concurrency cap ------------------------------------------------

$s{capped}->set_mode(delay => 0.3);
burst($t, to => 12, procs => 4, user => 'capped');
ok(wait_for(sub { $s{capped}->count >= 12 }, 20),
   'cap: all 12 events are delivered');
is($s{capped}->max_concurrent, 2, 'cap: never more than 2 at a time, '
   . 'and 2 were used');

# the ten that waited their turn had their events in memory, as the first
# two: no first attempt read its record back from the spool
my $capped = quotemeta $s{capped}->url('/');
is(scalar $t->log_lines(qr/first attempt to "$capped", its event in memory/),
   12, 'cap: each first attempt has its event in memory, waiting or not');
is(scalar $t->log_lines(qr/attempt \d+ to "$capped", its record read back/),
   0, 'cap: and none reads it back from the spool');

# --- a slow destination does not delay another ------------------------

$s{slow}->set_mode(delay => 2);
my $start = time;
burst($t, from => 100, to => 106, procs => 2, user => 'pair');
ok(wait_for(sub { $s{fast}->count >= 6 }, 5),
   'slow and fast: the fast destination has all 6 events');
my $fast_done = time - $start;
cmp_ok($s{slow}->count, '<=', 2, sprintf('slow and fast: meanwhile (%.1f '
       . 's) the slow one took at most 2', $fast_done));

# --- the circuit breaker --------------------------------------------------

$s{broken}->set_mode(status => 500);
burst($t, from => 200, to => 210, procs => 2, user => 'broken');

ok(wait_for(sub { $t->log_lines(qr/"broken"?.*failed 3 times in a row: circuit breaker open/) }, 5),
   'breaker: opens after 3 failures in a row');

# open: only single probes, spaced out
my $before = $s{broken}->count;
sleep 1.5;
my $probes = $s{broken}->count - $before;
cmp_ok($probes, '<=', 4, "breaker: while open, $probes probe(s) in 1.5 s "
       . 'instead of 10 events retried');

$s{broken}->set_mode(status => 200);
ok(wait_for(sub { $t->log_lines(qr/answers again: circuit breaker closed/) }, 10),
   'breaker: a probe that passes closes it');
ok(wait_for(sub { my ($c) = arrivals($s{broken}); keys(%$c) >= 10 }, 10),
   'breaker: then every event is delivered');

$t->finish;
