#!/usr/bin/perl

# Nothing acknowledged is lost: kill -9 of a worker, and of the master,
# during a burst of 1,000 events, and a reload in the middle of one.  Two
# workers share the spool; what a dead or old worker held is taken over.
# Duplicates stay within the promise of docs/delivery-guarantees.md: only
# deliveries under way, or finished but not yet marked done, when a
# worker died go again, with the same webhook-id.

use strict;
use warnings;

use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event burst_start burst_wait arrivals);

my $N = 1000;

my $t = PostmarkTest->new(log_level => 'info');
my $hook = $t->standin('hook');

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=256m;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        delivery          spooled;
        retry_backoff     100ms 500ms;
        max_concurrent    4;

        forward ${\ $hook->url('/hook') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

# every event answered 200 arrives; returns how many arrived twice or more
sub all_arrive {
    my ($name, $sent, $timeout) = @_;
    my @ok = grep { $sent->{$_}[0] == 200 } keys %$sent;
    my %want = map { $sent->{$_}[1] => $_ } @ok;
    my $count;

    wait_for(sub {
        ($count) = arrivals($hook);
        !grep { !$count->{$_} } keys %want;
    }, $timeout // 60);

    my ($body);
    ($count, $body) = arrivals($hook);

    my @missing = grep { !$count->{$_} } keys %want;
    is(scalar @missing, 0, "$name: all " . scalar(@ok) . ' acknowledged '
       . 'events arrive') or diag scalar(@missing) . ' missing';

    my @wrong = grep { $body->{$_} ne event($want{$_}) } keys %want;
    is(scalar @wrong, 0, "$name: byte for byte, under their webhook-id");

    return scalar grep { $count->{$_} > 1 } keys %$count;
}

sub answered { scalar grep { $_->[0] } values %{ PostmarkTest::Spool::burst_results($_[0]) } }

# --- kill -9 of a worker ----------------------------------------------

$t->run;

$hook->set_mode(delay => 0.02);

my $b = burst_start($t, to => $N, procs => 8);
wait_for(sub { answered($b) >= 300 }, 60);

my ($victim) = $t->worker_pids;
kill 'KILL', $victim;

my $sent = burst_wait($b);
my $acked = grep { $_->[0] == 200 } values %$sent;
cmp_ok($acked, '>=', $N - 50, "kill -9 of a worker: at most the "
       . "requests it had in hand fail ($acked of $N acknowledged)");

my $dups = all_arrive('kill -9 of a worker', $sent);
cmp_ok($dups, '<=', 32, "kill -9 of a worker: $dups duplicates, within "
       . 'what was under way');

ok(wait_for(sub { $t->log_lines(qr/took over ".*-$victim-\d+\.seg"/) }, 5),
   'the dead worker\'s segment was taken over');
ok(!$t->log_lines(qr/damaged or torn/),
   'the room written ahead of its records is no damage');

# --- reload in the middle of a burst --------------------------------------

$hook->clear;

$b = burst_start($t, from => $N, to => 2 * $N, procs => 8);
wait_for(sub { answered($b) >= 300 }, 60);

$t->reload;

$sent = burst_wait($b);
$acked = grep { $_->[0] == 200 } values %$sent;
is($acked, $N, 'reload: every event of the burst is acknowledged');

$dups = all_arrive('reload', $sent);
cmp_ok($dups, '<=', 8, "reload: $dups duplicates");

# --- kill -9 of the master, then of its orphaned workers -----------------

$hook->clear;
$hook->stop;

$b = burst_start($t, from => 2 * $N, to => 3 * $N, procs => 8);
wait_for(sub { answered($b) >= 300 }, 60);

my @orphans = $t->worker_pids;
my $master = $t->master_pid;
kill 'KILL', $master;
waitpid $master, 0;
delete $t->{pid};

# the workers serve on, without their master, to the end of the burst
$sent = burst_wait($b);
$acked = grep { $_->[0] == 200 } values %$sent;
cmp_ok($acked, '>=', $N - 50, "kill -9 of the master: $acked of $N "
       . 'acknowledged');

kill 'KILL', @orphans;
wait_for(sub { !grep { kill 0, $_ } @orphans }, 10);

$hook->start;
$t->run;

$dups = all_arrive('kill -9 of the master', $sent);
is($dups, 0, 'kill -9 of the master: none twice (the destination was down '
   . 'until the restart)');

$t->finish(allow => qr/exited on signal 9/);
