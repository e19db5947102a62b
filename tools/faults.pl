#!/usr/bin/perl

# make faults: the crash, reload and outage scenarios of the tests at larger
# counts, several thousand events sent by 32 processes at once, as Postmark
# would, and what became of each event: acknowledged (200), refused with a
# 503 (Postmark retries those), delivered, lost (acknowledged but never
# delivered: must be zero) and delivered twice (allowed, same webhook-id).
# Prints a Markdown table, as docs/reliability.md shows it.
#
#   perl -I t/lib tools/faults.pl [EVENTS]      (default 4000)
#
# TEST_NGINX_BINARY and TEST_NGINX_MODULE say which nginx and module run,
# as for the tests.

use strict;
use warnings;

use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event burst_start burst_wait arrivals);

my $N = shift // 4000;
my $PROCS = 32;
my @rows;

sub nginx {
    my (%opt) = @_;
    my $t = PostmarkTest->new(log_level => 'notice');
    my $hook = $t->standin('hook');
    my $delivery = $opt{direct} ? 'direct' : 'spooled';
    my $extra = $opt{extra} // '';

    $t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
$extra
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=${\ ($opt{max_size} // '1g') };

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        delivery          $delivery;
        retry_backoff     100ms 1s;
        forward ${\ $hook->url('/hook') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

    $t->run;
    return ($t, $hook);
}

# what became of a burst's events, once every acknowledged one arrived or
# "timeout" seconds passed
sub account {
    my ($name, $hook, $sent, $timeout) = @_;
    my @acked = grep { $sent->{$_}[0] == 200 } keys %$sent;
    my %want = map { $sent->{$_}[1] => $_ } @acked;
    my $count;

    wait_for(sub {
        ($count) = arrivals($hook);
        !grep { !$count->{$_} } keys %want;
    }, $timeout // 120);

    my $body;
    ($count, $body) = arrivals($hook);

    my $lost = grep { !$count->{$_} } keys %want;
    my $wrong = grep { $count->{$_} && $body->{$_} ne event($want{$_}) }
                keys %want;
    my $twice = grep { $count->{$_} > 1 } keys %$count;
    my $refused = grep { $sent->{$_}[0] == 503 } keys %$sent;
    my $other = grep { $sent->{$_}[0] != 200 && $sent->{$_}[0] != 503 }
                keys %$sent;

    push @rows, [$name, scalar keys %$sent, scalar @acked, $refused, $other,
                 scalar(@acked) - $lost, $lost + $wrong, $twice];
    printf STDERR "%-48s acked %d, lost %d\n", $name, scalar @acked,
                  $lost + $wrong;
}

sub during_burst {
    my ($t, $while) = @_;
    my $b = burst_start($t, to => $N, procs => $PROCS);
    $while->($b);
    return burst_wait($b);
}

sub answered {
    scalar grep { $_->[0] } values %{ PostmarkTest::Spool::burst_results($_[0]) };
}

# --- kill -9 of a worker, again and again -------------------------------

{
    my ($t, $hook) = nginx();
    my $kills = 0;
    my $sent = during_burst($t, sub {
        my ($b) = @_;
        for my $k (1 .. 8) {
            wait_for(sub { answered($b) >= $k * $N / 10 }, 60);
            my @w = $t->worker_pids;
            kill 'KILL', $w[rand @w] and $kills++;
        }
    });
    account("kill -9 of a worker, $kills times during the burst", $hook,
            $sent);
    $t->stop;
}

# --- kill -9 of the master and all its workers, then a restart ---------

{
    my ($t, $hook) = nginx();
    my $sent = during_burst($t, sub {
        my ($b) = @_;
        wait_for(sub { answered($b) >= $N / 3 }, 60);
        my @workers = $t->worker_pids;
        kill 'KILL', $t->master_pid;
        waitpid $t->master_pid, 0;
        kill 'KILL', @workers;
        wait_for(sub { !grep { kill 0, $_ } @workers }, 10);
        delete $t->{pid};
        sleep 1;
        $t->run;
    });
    account('kill -9 of the master and its workers, then a restart', $hook,
            $sent);
    $t->stop;
}

# what a burst does meanwhile: reload, up to "max" times, "pause" apart
sub reloads {
    my ($t, $count, $max, $pause) = @_;
    return sub {
        my ($b) = @_;
        while (answered($b) < $N * 0.9 && $$count < $max) {
            $t->reload;
            $$count++;
            sleep $pause;
        }
    };
}

# --- reloads, one after another ------------------------------------------

{
    my ($t, $hook) = nginx();
    my $reloads = 0;
    my $sent = during_burst($t, reloads($t, \$reloads, 20, 0.3));
    account("$reloads reloads during the burst", $hook, $sent);
    $t->stop;
}

# --- reloads with worker_shutdown_timeout and a destination that hangs -----

{
    my ($t, $hook) = nginx(extra => 'worker_shutdown_timeout 1s;');
    $hook->set_mode(action => 'hang');
    my $reloads = 0;
    my $sent = during_burst($t, reloads($t, \$reloads, 10, 0.5));
    $hook->set_mode;
    $hook->stop;
    $hook->start;
    account("$reloads reloads cutting hanging attempts short "
            . '(worker_shutdown_timeout 1s)', $hook, $sent, 240);
    $t->stop;
}

# --- the destination down through the burst, back after it -------------

{
    my ($t, $hook) = nginx();
    $hook->stop;
    my $sent = during_burst($t, sub { });
    $hook->start;
    account('the destination down through the burst, back after it', $hook,
            $sent, 240);
    $t->stop;
}

# --- a spool too small for the burst ---------------------------------------

{
    my ($t, $hook) = nginx(max_size => '1m');
    $hook->stop;
    my $sent = during_burst($t, sub { });
    $hook->start;
    account('a spool of 1 MB, full during the burst (503: Postmark retries)',
            $hook, $sent, 240);
    $t->stop;
}

# --- direct delivery: the answer is the destination's ----------------------

{
    my ($t, $hook) = nginx(direct => 1);
    my $reloads = 0;
    my $sent = during_burst($t, sub {
        my ($b) = @_;
        while (answered($b) < $N * 0.9 && $reloads < 10) {
            $t->reload;
            $reloads++;
            $hook->set_mode(action => $reloads % 2 ? 'reset' : 'answer');
            sleep 0.3;
        }
        $hook->set_mode;
    });
    account("direct delivery, $reloads reloads, the destination resetting "
            . 'half the time', $hook, $sent);
    $t->stop;
}

print "| scenario | events | acknowledged (200) | 503 (Postmark "
    . "retries) | other answers | delivered | lost | delivered twice |\n";
print "|---|---:|---:|---:|---:|---:|---:|---:|\n";
print '| ', join(' | ', @$_), " |\n" for @rows;

my $lost = 0;
$lost += $_->[6] for @rows;
exit($lost ? 1 : 0);
