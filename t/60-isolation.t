#!/usr/bin/perl

# A slow or hanging destination never delays another's events: 40
# destinations that accept and never answer, and a client with
# "max_concurrent 300" hanging too, take at most their share of the
# worker's connections.  Meanwhile a healthy direct client, a healthy
# spooled one and a portal's Templates call go through before any of the
# hanging attempts has even timed out, and the log says what happened.
# In direct delivery, where Postmark's webhooks wait for their forwards,
# the same holds, and a webhook's timeout bounds its wait for room too.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use IO::Select;
use Time::HiRes qw(time);

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
$t->finish(more => 1);

# --- direct delivery: the webhooks themselves wait --------------------------
#
# 56 clients whose direct destinations hang, next to a healthy direct
# client.  A worker of 128 connections has 56 forward slots.  First 30 of
# them get two webhooks each: a destination's fair share is one slot, so
# each second webhook queues in its lane; the healthy client's webhook is
# answered before any of theirs, and theirs all end within their timeout,
# queueing included.  Then all 56 hold every slot, a client with a
# shorter timeout finds no room at all and gives up at its timeout, and
# the healthy client's webhook waits, but not past its own timeout.

my $u = PostmarkTest->new;
my $well = $u->standin('well');

my $dhole_port = PostmarkTest::free_port();
my $dholes = $u->dir . '/holes';
my $dhole = blackhole($dhole_port, $dholes);

my $hanging = join '', map { <<"EOF" } 1 .. 56;
    postmark_client h$_ {
        webhook_user      h$_;
        webhook_password  secret;
        forward http://127.0.0.1:$dhole_port/hang/$_ { timeout 3s; }
    }
EOF

$u->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 128; }
http {
    %%TEST_GLOBALS_HTTP%%

$hanging
    postmark_client short {
        webhook_user      short;
        webhook_password  secret;
        forward http://127.0.0.1:$dhole_port/short { timeout 1s; }
    }

    postmark_client healthy {
        webhook_user      healthy;
        webhook_password  secret;
        forward ${\ $well->url('/healthy') } { timeout 10s; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$u->run;

# a webhook sent without waiting for its answer
sub send_hook {
    my ($user) = @_;
    my $s = $u->send_request('/webhook', payload('delivery'), user => $user,
                             password => 'secret')
        or die "cannot connect: $!";
    return { user => $user, s => $s, sent => time, buf => '' };
}

# reads the answers as they come: each gets "status" and "after" (seconds
# from its sending)
sub answers {
    my (@w) = @_;
    my $sel = IO::Select->new(map { $_->{s} } @w);
    my %by = map { ($_->{s} => $_) } @w;
    my $deadline = time + 30;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(0.05)) {
            my $w = $by{$s};
            my $n = sysread $s, $w->{buf}, 65536, length $w->{buf};
            next if $n;
            $w->{after} = time - $w->{sent};
            my $r = PostmarkTest::parse_response($w->{buf});
            $w->{status} = $r ? $r->{status} : 0;
            $sel->remove($s);
            close $s;
        }
    }
    $_->{status} //= 0, $_->{after} //= 99 for @w;
    return @w;
}

sub holding {
    my $p = blackhole_paths($dholes);
    my $all = 0;
    $all += $_ for values %$p;
    return ($all, scalar grep { m{^/hang/} } keys %$p);
}

# 30 clients, one webhook each, then a second each
my @first = map { send_hook("h$_") } 1 .. 30;
ok(wait_for(sub { (holding())[1] == 30 }, 10),
   'direct: each hanging destination holds a connection');
push @first, map { send_hook("h$_") } 1 .. 30;
my $healthy = send_hook('healthy');

ok(wait_for(sub { $well->count == 1 }, 5),
   'direct: the healthy client\'s destination has its event');
my ($held) = holding();
cmp_ok($held, '<', 60, "direct: the hanging destinations hold $held "
       . 'connections: the others wait in their lanes');

($healthy, @first) = answers($healthy, @first);
is($healthy->{status}, 200, 'direct: the healthy client gets 200');
my ($soonest) = sort { $a <=> $b } map { $_->{sent} + $_->{after} } @first;
cmp_ok($healthy->{sent} + $healthy->{after}, '<', $soonest,
       'direct: before any hanging client has an answer');
cmp_ok($healthy->{after}, '<', 10, 'direct: well within its timeout');

is(scalar(grep { $_->{status} == 503 } @first), 60,
   'direct: every hanging client\'s webhook gets 503');
my ($slowest) = sort { $b <=> $a } map { $_->{after} } @first;
cmp_ok($slowest, '<', 3 + 2, sprintf 'direct: all within their 3 s timeout, '
       . 'waiting for room included (slowest: %.1f s)', $slowest);
my @waits = map { /hang\/\d+" failed after (\d+) ms/ ? $1 : () }
            $u->log_lines(qr/hang\/\d+" failed after/);
is(scalar @waits, 60, 'direct: each is logged as failed');
ok(!grep({ $_ > 3000 + 1000 } @waits),
   'direct: with how long it took, queueing included, within its timeout');

# all 56 slots held; then a client whose timeout is shorter than theirs
ok(wait_for(sub { (holding())[0] == 0 }, 10),
   'direct: the hanging connections are closed');
my @all = map { send_hook("h$_") } 1 .. 56;
ok(wait_for(sub { (holding())[0] == 56 }, 10),
   'direct: 56 hanging destinations hold the worker\'s 56 forward slots');
my $short = send_hook('short');
$healthy = send_hook('healthy');

($short, $healthy, @all) = answers($short, $healthy, @all);
is($short->{status}, 503, 'direct: the client that found no room gets 503');
cmp_ok($short->{after}, '<', 1 + 1.5, sprintf 'direct: within its 1 s '
       . 'timeout (%.1f s)', $short->{after});
ok($u->log_lines(qr/\[error\].*\/short" failed after \d+ ms: no connection within 1000 ms: 0 transfers to this destination and 56 of the worker's 56 forwards are under way/),
   'direct: the log says it found no connection within its timeout, and '
   . 'why');
is($healthy->{status}, 200, 'direct: the healthy client gets 200 once '
   . 'room frees');
cmp_ok($healthy->{after}, '<', 10, sprintf 'direct: within its own 10 s '
       . 'timeout (%.1f s)', $healthy->{after});
is(scalar(grep { $_->{status} == 503 } @all), 56,
   'direct: the hanging clients get 503');

stop_server($dhole);
$u->finish;
