#!/usr/bin/perl

# Workers that shut down: worker_shutdown_timeout ends the transfers still
# under way (503 to Postmark, 504 to a portal; spooled events stay in the
# spool for the next workers), and a reload while events are being written
# to the spool answers every one of them 200, once it is on disk, with one
# worker or two; so does a graceful stop.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Time::HiRes qw(time sleep);

use PostmarkTest qw(wait_for payload);
use PostmarkTest::PostmarkApi;
use PostmarkTest::Spool qw(event arrivals);

my $t = PostmarkTest->new;
my $direct = $t->standin('direct', mode => { action => 'hang' });
my $spooled = $t->standin('spooled', mode => { action => 'hang' });
my $big = $t->standin('big');
my $api = $t->standin('api', mode => { action => 'hang' },
                      handler => PostmarkTest::PostmarkApi::handler(
                          tokens => ['the-real-server-token']));

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 1;
worker_shutdown_timeout 1s;
events { }
http {
    %%TEST_GLOBALS_HTTP%%
    client_max_body_size 64m;

    postmark_spool %%TESTDIR%%/spool max_size=1g;
    postmark_api_url ${\ $api->url('') };
    postmark_api_timeout 60s;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        forward ${\ $direct->url('/direct') } { events Delivery; timeout 30s; }
        forward ${\ $spooled->url('/spooled') } {
            events Open;
            delivery spooled;
            timeout 30s;
        }
        forward ${\ $big->url('/big') } { events Inbound; delivery spooled; }
        server_token      the-real-server-token;
        portal_key        the-portal-key-of-acme;
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location /portal/ { postmark_portal acme; }
    }
}
EOF

$t->run;

my %acme = (user => 'acme', password => 'secret');

# --- worker_shutdown_timeout with transfers under way ----------------------

my $webhook = $t->send_request('/webhook', payload('delivery'), %acme);
my $portal = $t->send_request('/portal/templates/1234', undef,
    method => 'GET',
    headers => { 'X-Postmark-Server-Token' => 'the-portal-key-of-acme' });

my $r = $t->post('/webhook', payload('open'), %acme);
is($r->{status}, 200, 'a spooled event is acknowledged');

ok(wait_for(sub { $direct->count && $api->count && $spooled->count }, 10),
   'a forward, a Templates call and a spooled attempt hang');

my ($old) = $t->worker_pids;
my $reloaded = time;
$t->reload;

$r = PostmarkTest::read_response($webhook, 30);
is($r && $r->{status}, 503, 'worker_shutdown_timeout: the hanging forward '
   . 'is answered 503, so that Postmark retries');
like($r && $r->{body}, qr/"failed":1/, 'and the answer says it failed');

$r = PostmarkTest::read_response($portal, 30);
is($r && $r->{status}, 504, 'the hanging Templates call is answered 504');

ok(wait_for(sub { !kill 0, $old }, 10), 'the old worker exits');
my $took = time - $reloaded;
note(sprintf 'the old worker took %.1f s to exit, with transfers of 30 and '
     . '60 s under way', $took);
cmp_ok($took, '<', 10, 'within the shutdown timeout, not the transfers\'');

ok($t->log_lines(qr/\[notice\].*worker_shutdown_timeout: ending \d+ transfers/),
   'the log says why the transfers ended');
ok($t->log_lines(qr/forward to .*\/direct" failed after \d+ ms: the worker is shutting down \(worker_shutdown_timeout\)/),
   'and the forward\'s failure says so');

# the spooled event waited in the spool: the next worker delivers it

$spooled->set_mode;
ok(wait_for(sub { grep { $_->{path} eq '/spooled' && $_->{time} > $reloaded }
                       $spooled->requests }, 20),
   'the spooled event stays in the spool and the next worker delivers it');

# --- a reload while events are written to the spool ----------------------

# Inbound messages of 8 MB: nginx keeps them in temporary files, and the
# spool's write and sync of each take a while

my $inbound = payload('inbound');
my $pad = 'x' x (8 * 1024 * 1024);
my @sent;
my $n = 0;

for my $round (1 .. 3) {
    my @socks;
    for (1 .. 6) {
        (my $body = $inbound) =~ s/"Subject": "[^"]*"/"Subject": "r${\ ++$n } $pad"/
            or die 'no Subject';
        push @socks, [$n, $t->send_request('/webhook', $body, %acme)];
    }

    # every body is sent: the writes to the spool are under way
    $t->reload;

    for my $s (@socks) {
        my $r = PostmarkTest::read_response($s->[1], 60);
        push @sent, [$s->[0], $r ? $r->{status} : 0,
                     $r ? eval { decode_json($r->{body})->{webhook_id} } : ''];
    }
}

my @not_ok = grep { $_->[1] != 200 } @sent;
is(scalar @not_ok, 0, 'reloads while events are being spooled: every event '
   . 'is answered 200') or diag explain \@not_ok;

ok(wait_for(sub { $big->count >= 18 }, 60), 'and every one is delivered');
my ($count) = arrivals($big);
my %answered = map { $_->[2] => 1 } @sent;
is(scalar(grep { $answered{$_} } keys %$count), 18,
   'under the webhook-ids they were answered with');

ok(!$t->log_lines(qr/open socket .* left in connection|aborting/),
   'no worker exited with a request left unanswered');

$t->finish(more => 1);

# --- two workers: reloads, then a graceful stop, during spool writes --------
#
# Each of two workers may be writing an event when it is told to exit; it
# stays until the event is synced and answers 200.  A stop (QUIT) waits
# the same way for a 30 MB event, which the next start delivers.

my $u = PostmarkTest->new;
my $sink = $u->standin('sink');

$u->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%
    client_max_body_size 64m;

    postmark_spool %%TESTDIR%%/spool max_size=1g;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        delivery          spooled;
        forward ${\ $sink->url('/sink') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$u->run;

sub inbound_of {
    my ($n, $size) = @_;
    my $pad = 'y' x $size;
    (my $body = $inbound) =~ s/"Subject": "[^"]*"/"Subject": "u$n $pad"/
        or die 'no Subject';
    return $body;
}

sub answer_of {
    my ($n, $s) = @_;
    my $r = PostmarkTest::read_response($s, 60);
    return [$n, $r ? $r->{status} : 0,
            $r ? eval { decode_json($r->{body})->{webhook_id} } // '' : ''];
}

my @two;
$n = 0;

for my $round (1 .. 2) {
    my @socks = map {
        ++$n;
        [$n, $u->send_request('/webhook', inbound_of($n, 8 * 1024 * 1024),
                              %acme)]
    } 1 .. 6;

    $u->reload;

    push @two, answer_of(@$_) for @socks;
}

@not_ok = grep { $_->[1] != 200 } @two;
is(scalar @not_ok, 0, 'two workers, reloads while events are being '
   . 'spooled: every event is answered 200') or diag explain \@not_ok;
ok(wait_for(sub { $sink->count >= 12 }, 60), 'and every one is delivered');

# a graceful stop while a 30 MB event is being written

my $last = $u->send_request('/webhook', inbound_of(++$n, 30 * 1024 * 1024),
                            %acme);
kill 'QUIT', $u->master_pid;
my $quit = answer_of($n, $last);
is($quit->[1], 200, 'QUIT during a 30 MB spool write: the event is '
   . 'answered 200');
is($u->stop, 0, 'and nginx exits cleanly');
ok(!$u->log_lines(qr/open socket .* left in connection|aborting/),
   'no worker exited with a request left unanswered');

$u->run;
ok(wait_for(sub { ($count) = arrivals($sink); $count->{ $quit->[2] } }, 60),
   'the next start delivers it, under the webhook-id it was answered with');
($count) = arrivals($sink);
%answered = map { $_->[2] => 1 } @two, $quit;
is(scalar(grep { $answered{$_} } keys %$count), 13,
   'as every other event answered 200');

$u->finish;
