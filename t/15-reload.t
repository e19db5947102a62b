#!/usr/bin/perl

# "nginx -s reload" and "nginx -s quit" while forwards are in flight: the
# old worker finishes them, every request gets its answer, and every event
# answered 200 reached its destination.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(payload wait_for);

my $t = PostmarkTest->new;
my $slow = $t->standin('slow');
my $new = $t->standin('new');

my $conf = <<"EOF";
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        forward ${\ $slow->url('/hook') } { timeout 10s; }
        %%EXTRA%%
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

(my $first = $conf) =~ s/%%EXTRA%%//;
$t->write_config($first);
$t->run;

my $bounce = payload('bounce');

sub start_burst {
    my ($n, $tag) = @_;
    my @inflight;
    for my $i (1 .. $n) {
        (my $body = $bounce) =~ s/"Tag": "Test"/"Tag": "$tag-$i"/;
        push @inflight, [$body, $t->send_request('/webhook', $body,
                                                 user => 'acme',
                                                 password => 'secret')];
    }
    return @inflight;
}

sub answers {
    my (@inflight) = @_;
    my (%status, @ok);
    for my $f (@inflight) {
        my $r = PostmarkTest::read_response($f->[1], 30);
        my $s = $r ? $r->{status} : 'none';
        $status{$s}++;
        push @ok, $f->[0] if $s eq '200';
    }
    return (\%status, \@ok);
}

sub arrived {
    my ($standin, @bodies) = @_;
    my %got = map { $_->{body} => 1 } $standin->requests;
    return scalar grep { $got{$_} } @bodies;
}

# the destination holds every forward for a second, then answers

$slow->set_mode(delay => 1);

my @inflight = start_burst(20, 'reload');
ok(wait_for(sub { $slow->count >= 20 }, 10),
   'reload: 20 forwards are in flight');

(my $second = $conf) =~ s/%%EXTRA%%/forward ${\ $new->url('\/new') } { }/;
$t->write_config($second);
my @old_workers = $t->worker_pids;
$t->reload;

my ($status, $ok) = answers(@inflight);
is_deeply($status, { 200 => 20 }, 'reload: every request answered 200');
is(arrived($slow, @$ok), scalar @$ok,
   'reload: every event answered 200 reached the destination');
is($new->count, 0, 'reload: old workers kept the old configuration');

ok(wait_for(sub { !grep { kill 0, $_ } @old_workers }, 15),
   'reload: old workers exit once their forwards are done');

# new workers run the new configuration
$slow->set_mode;
$slow->clear;
my $r = $t->post('/webhook', $bounce, user => 'acme', password => 'secret');
is($r->{status}, 200, 'after reload: 200');
is(decode_json($r->{body})->{destinations}, 2, 'to the new destinations');
is($new->count, 1, 'the new destination got it');

# quit while forwards are in flight: answered, then nginx exits

$slow->set_mode(delay => 1);
$slow->clear;
@inflight = start_burst(10, 'quit');
ok(wait_for(sub { $slow->count >= 10 }, 10),
   'quit: 10 forwards are in flight');

kill 'QUIT', $t->master_pid;

($status, $ok) = answers(@inflight);
is_deeply($status, { 200 => 10 }, 'quit: every request answered 200');
is(arrived($slow, @$ok), scalar @$ok,
   'quit: every event answered 200 reached the destination');
is($t->stop, 0, 'quit: nginx exits cleanly');

# a fast shutdown cannot wait: forwards still running end as failures,
# and Postmark is told to retry rather than left without an answer

$t->run;
$slow->clear;
@inflight = start_burst(5, 'stop');
ok(wait_for(sub { $slow->count >= 5 }, 10), 'stop: 5 forwards are in flight');

kill 'TERM', $t->master_pid;

($status) = answers(@inflight);
is_deeply($status, { 503 => 5 }, 'stop: every request answered 503');
is($t->stop, 0, 'stop: nginx exits');

# and once more, to end on a QUIT like every test
$t->run;
$t->finish;
