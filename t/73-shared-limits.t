#!/usr/bin/perl

# max_concurrent and the circuit breaker hold for the whole nginx, not per
# worker: four workers, each connection handed to one of them by the
# kernel (reuseport), a stand-in that counts the attempts under way at
# once, and a breaker opened by failures that several workers saw.  An
# open breaker stays open across a reload; a Retry-After pause and a 410
# Gone that one worker heard hold for all.  The spool's max_size holds for
# large events that several workers write at the same moment.

use strict;
use warnings;

use Test::More;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event burst arrivals);

my $t = PostmarkTest->new;
my %s = map { $_ => $t->standin($_) } qw(capped broken held big limited gone);

sub client {
    my ($name, $body) = @_;
    return <<"EOF";
    postmark_client $name {
        webhook_user      $name;
        webhook_password  secret;
        delivery          spooled;
$body
        forward ${\ $s{$name}->url('/') } { }
    }
EOF
}

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 4;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=25m;
    client_max_body_size 16m;

    log_format workers '\$pid \$postmark_client \$status';

${\ client('capped', 'max_concurrent 2;') }
${\ client('broken', "retry_backoff 100ms 4s;
        circuit_breaker 3 1s;") }
${\ client('held', "retry_backoff 100ms 1s;
        circuit_breaker 2 10s;") }
${\ client('big', "retry_backoff 1h 1h;") }
${\ client('limited', "max_concurrent 1;
        retry_backoff 100ms 200ms;") }
${\ client('gone', "max_concurrent 1;
        retry_backoff 100ms 200ms;") }

    server {
        listen 127.0.0.1:%%PORT_8080%% reuseport;
        access_log %%TESTDIR%%/logs/workers.log workers;
        location = /webhook { postmark_webhook; }
        location = /metrics { postmark_metrics; }
    }
}
EOF

$t->run;

# the workers that answered a client's webhooks
sub workers_of {
    my ($client) = @_;
    my %pids;
    for (split /\n/, PostmarkTest::read_file($t->dir . '/logs/workers.log')) {
        my ($pid, $name) = split / /;
        $pids{$pid} = 1 if $name eq $client;
    }
    return scalar keys %pids;
}

sub breaker_state {
    my ($client) = @_;
    my $r = $t->post('/metrics', undef, method => 'GET');
    return '' unless $r && $r->{status} == 200;
    for (split /\n/, $r->{body}) {
        return $1 if /^nginx_postmark_circuit_breaker_state\{client="$client"
                      ,destination="[^"]*",state="(\w+)"\}[ ]1$/x;
    }
    return '';
}

# a destination's facts in the JSON status, whichever worker answers
sub dest_status {
    my ($client) = @_;
    my $r = $t->post('/metrics?format=json', undef, method => 'GET');
    my $json = eval { JSON::PP::decode_json($r->{body}) } || {};
    my ($d) = values %{ $json->{clients}{$client}{destinations} || {} };
    return $d || {};
}

# --- max_concurrent 2, four workers --------------------------------------

$s{capped}->set_mode(delay => 0.3);
burst($t, to => 24, procs => 8, user => 'capped');

cmp_ok(workers_of('capped'), '>=', 2,
       'cap: the events were received by several workers');
ok(wait_for(sub { $s{capped}->count >= 24 }, 30),
   'cap: all 24 events are delivered');
is($s{capped}->max_concurrent, 2,
   'cap: never more than 2 at a time for all workers, and 2 were used');
my ($count) = arrivals($s{capped});
is(scalar keys %$count, 24, 'cap: 24 distinct events');

ok(wait_for(sub {
       my $r = $t->post('/metrics', undef, method => 'GET');
       $r && $r->{body} =~ /^nginx_postmark_in_flight_deliveries\{client=
                            "capped",[^}]*\}[ ]0$/mx
   }, 5), 'cap: nothing is left under way at rest');

# --- one breaker for every worker ----------------------------------------

$s{broken}->set_mode(status => 500);
burst($t, from => 100, to => 116, procs => 8, user => 'broken');
cmp_ok(workers_of('broken'), '>=', 2,
       'breaker: the failures were seen by several workers');

my $open = qr/"broken".*failed \d+ times in a row: circuit breaker open/;
ok(wait_for(sub { $t->log_lines($open) }, 10),
   'breaker: it opens after failures in a row');
my $opened = time;
is(breaker_state('broken'), 'open', 'breaker: the metrics show it open');

# attempts under way when it opened end within a few milliseconds
sleep 7.5;
my @after = sort { $a <=> $b } grep { $_ > $opened + 0.3 }
            map { $_->{at} } $s{broken}->requests;

is(scalar(() = $t->log_lines($open)), 1,
   'breaker: one worker opened it, for all');
ok(@after >= 2 && @after <= 4, sprintf('breaker: %d probes in 7.5 s of '
   . 'waits of 1, 2 and 4 s (16 events wait)', scalar @after));
my @gaps = map { $after[$_] - $after[$_ - 1] } 1 .. $#after;
ok(!grep({ $_ < 0.9 } @gaps), 'breaker: one probe per wait, never two '
   . 'at once (gaps: ' . join(', ', map { sprintf '%.2f', $_ } @gaps)
   . ' s)');

$s{broken}->set_mode(status => 200);
my $closed = qr/"broken".*answers again: circuit breaker closed/;
ok(wait_for(sub { $t->log_lines($closed) }, 10),
   'breaker: a probe that passes closes it');
ok(wait_for(sub { my ($c) = arrivals($s{broken}); keys(%$c) >= 16 },
            15), 'breaker: then every event is delivered');
is(breaker_state('broken'), 'closed', 'breaker: and the metrics say closed');

# --- an open breaker stays open across a reload --------------------------

$s{held}->set_mode(status => 500);
burst($t, from => 300, to => 304, procs => 2, user => 'held');
ok(wait_for(sub { $t->log_lines(qr/"held".*circuit breaker open/) }, 10),
   'reload: the breaker of "held" is open');
my $before = $s{held}->count;

$t->reload;
ok(wait_for(sub {
       my $r = $t->post('/metrics', undef, method => 'GET');
       $r && $r->{body} =~ /^nginx_postmark_config_generation 2$/m
   }, 10), 'reload: the new generation runs');

sleep 2;
is($s{held}->count, $before, 'reload: the new workers make no attempt '
   . 'while it is open');
is(breaker_state('held'), 'open', 'reload: the metrics still say open');

# --- a Retry-After pause and a 410 Gone hold for all workers -------------

# one attempt at a time for all workers: what follows the first answer is
# what the pause or the 410 let through
$s{limited}->set_mode(status => 429, headers => { 'Retry-After' => 2 });
burst($t, from => 400, to => 408, procs => 8, user => 'limited');
cmp_ok(workers_of('limited'), '>=', 2,
       'Retry-After: the events were received by several workers');
ok(wait_for(sub { $s{limited}->count >= 1 }, 5), 'Retry-After: answered');
ok(wait_for(sub { dest_status('limited')->{paused} }, 2),
   'Retry-After: the status says it is paused');
my ($first) = map { $_->{at} } $s{limited}->requests;
ok(wait_for(sub { $s{limited}->count >= 2 }, 10),
   'Retry-After: attempts go on after the pause');
my @at = sort { $a <=> $b } map { $_->{at} } $s{limited}->requests;
cmp_ok($at[1] - $at[0], '>=', 1.8, sprintf('Retry-After: the next attempt '
       . 'of any worker waited the 2 s (%.2f s)', $at[1] - $at[0]));

$s{gone}->set_mode(status => 410);
burst($t, from => 500, to => 508, procs => 8, user => 'gone');
cmp_ok(workers_of('gone'), '>=', 2,
       '410: the events were received by several workers');
ok(wait_for(sub { $s{gone}->count >= 1 }, 5), '410: answered');
ok(wait_for(sub { dest_status('gone')->{gone} }, 2),
   '410: the status says it is gone');
sleep 2;
is($s{gone}->count, 1, '410: no worker sends it anything more');

# --- max_size for all workers --------------------------------------------

# eight 10 MB events at once, over fresh connections: two fit in 25 MB
$s{big}->set_mode(status => 500);
my $text = 'x' x (10 * 1024 * 1024);
my @pids;
for my $n (1 .. 8) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = $t->post('/webhook', qq({"RecordType":"Inbound",)
                         . qq("MessageStream":"inbound","MessageID":"m$n",)
                         . qq("TextBody":"$text"}), user => 'big',
                         password => 'secret', timeout => 60);
        POSIX::_exit(!$r ? 9 : $r->{status} == 200 ? 0
                     : $r->{status} == 503 ? 1 : 2);
    }
    push @pids, $pid;
}
my %status;
for (@pids) {
    waitpid $_, 0;
    $status{(200, 503, 'other')[$? >> 8] // 'none'}++;
}

cmp_ok(workers_of('big'), '>=', 2, 'max_size: the events were received by '
       . 'several workers');
my $accepted = $status{200} // 0;
ok($accepted >= 1 && $accepted <= 2, "max_size: $accepted of 8 events of "
   . '10 MB accepted in 25 MB');
is($status{503} // 0, 8 - $accepted, 'max_size: the others are answered 503');

my $on_disk = 0;
$on_disk += -s $_ for glob($t->dir . '/spool/*');
cmp_ok($on_disk, '<=', 25 * 1024 * 1024, "max_size: $on_disk bytes in the "
       . 'spool, no more than max_size');
ok($t->log_lines(qr/postmark spool ".*" is full \(max_size=26214400\)/),
   'max_size: the error log says the spool is full');

$t->finish(allow => qr/is full/);
