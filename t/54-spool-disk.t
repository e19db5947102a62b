#!/usr/bin/perl

# The spool's disk: a segment left with records torn by a crash or
# damaged is taken over, its damaged bytes skipped with a log line, and
# every whole record delivered; an event larger than the whole spool is
# answered 413 (no retry could help); a full spool answers 503 (Postmark
# retries) until deliveries free it; a spool that cannot be written
# answers 503 too, and recovers.  Two workers share the spool: each says
# a failure once, and the lines account for every event refused.  Done
# marks that cannot be written while deliveries drain are said once too.

use strict;
use warnings;

use Test::More;
use File::Path qw(rmtree);

use PostmarkTest qw(payload wait_for);
use PostmarkTest::Spool qw(event arrivals burst delivery_record done_record);

my $t = PostmarkTest->new;
my $hook = $t->standin('hook');
my $spool = $t->dir . '/spool';
my $url = $hook->url('/hook');

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool $spool max_size=1m;
    client_max_body_size 4m;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        delivery          spooled;
        retry_backoff     100ms 300ms;
        circuit_breaker   off;
        forward $url { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

# --- torn and damaged records, left by an earlier run -------------------

sub rec {
    my ($n) = @_;
    return delivery_record(client => 'acme', destination => $url,
                           id => "msg_torn$n", body => event($n));
}

my @whole = map { rec($_) } 1 .. 6;
my $segment = $whole[0];                                  # done below
$segment .= substr($whole[1], 0, 60);                     # torn
$segment .= $whole[2];                                    # whole
$segment .= done_record(0);                               # 1 is done
(my $damaged = $whole[3]) =~ s/Delivered/Delivere!/;      # damaged
$segment .= $damaged;
$segment .= $whole[4];                                    # whole
$segment .= substr($whole[5], 0, length($whole[5]) - 9);  # torn at the end

# as a live segment is left: room, zeros written ahead of its records
my $zeros = "\0" x (128 * 1024);
my %files = (
    '0001795000000000-1-0.seg' => $segment,
    '0001795000000001-1-0.seg' => $whole[0] . done_record(0) . rec(7)
                                  . $zeros,
    '0001795000000002-1-0.seg' => rec(8) . substr(rec(9), 0, 50) . $zeros,
);

mkdir $spool or die "$spool: $!";

for my $name (keys %files) {
    open my $fh, '>', "$spool/$name" or die $!;
    binmode $fh;
    print $fh $files{$name};
    close $fh;
}

$t->run;

ok(wait_for(sub { $hook->count >= 4 }, 10), 'the whole records arrive');
sleep 0.5;

my ($count, $body) = arrivals($hook);
is_deeply([sort keys %$count], [map { "msg_torn$_" } 3, 5, 7, 8],
          'exactly the whole records not yet done, room or none after them');
is($body->{msg_torn3}, event(3), 'byte for byte');
is($body->{msg_torn7}, event(7), 'byte for byte, before room');

my ($line) = $t->log_lines(qr/skipped \d+ damaged or torn bytes.*-0\.seg/);
like($line, qr/skipped \d+ damaged or torn bytes in 3 places of ".*0001795000000000-1-0\.seg"; every whole record is delivered/,
     'the damage is logged: three places');
ok(!$t->log_lines(qr/damaged or torn bytes .*0001795000000001-1-0\.seg/),
   'room after the records is no damage');
like(($t->log_lines(qr/0001795000000002-1-0\.seg.*delivered/))[0] // '',
     qr/skipped 50 damaged or torn bytes in 1 place of/,
     'a record torn before room: its 50 bytes are the damage, not the room');
ok(wait_for(sub { !glob("$spool/*.seg") }, 5),
   'the segments are removed once delivered');

# --- an event larger than the spool could ever take ---------------------

# 1.5 MB: larger than the whole 1 MB spool, so no retry could help
(my $huge = payload('inbound'))
    =~ s/"TextBody": "/'"TextBody": "' . ('h' x 1_500_000)/e;

my $r = $t->post('/webhook', $huge, user => 'acme', password => 'secret');
is($r->{status}, 413, 'too large for the spool: 413');
like($r->{body}, qr/^\{"status":"too_large","webhook_id":"[^"]+","destinations":1,"spooled":0,"failed":1,"message":"the event is larger than the spool can take"\}$/,
     'too large for the spool: the answer says why');
my @huge = $t->log_lines(qr/postmark webhook of client "acme": the \d+ byte event is larger than the spool can take; raise the max_size of "postmark_spool"/);
is(scalar @huge, 1, 'too large for the spool: one error line says to raise '
   . 'max_size');
like($huge[0] // '', qr/\[error\].* the ${\ length $huge} byte event/,
     'too large for the spool: at "error", with the event\'s size');
ok(!$t->log_lines(qr/is full/),
   'too large for the spool: not logged as a full spool');

$r = $t->post('/webhook', event(7), user => 'acme', password => 'secret');
is($r->{status}, 200, 'too large for the spool: the next event is taken');
ok(wait_for(sub { $hook->count >= 5 }, 10),
   'too large for the spool: and delivered');
my ($after) = arrivals($hook);
is(scalar keys %$after, 5, 'too large for the spool: nothing of it was '
   . 'delivered');

# --- a full spool --------------------------------------------------------

$hook->stop;

# about 100 KB each: a 1 MB spool takes a few
(my $big = payload('inbound')) =~ s/"TextBody": "/'"TextBody": "' . ('x' x 100_000)/e;

my $accepted = 0;
for my $n (1 .. 30) {
    (my $b = $big) =~ s/"MessageID": "[^"]*"/"MessageID": "full-$n"/;
    $r = $t->post('/webhook', $b, user => 'acme', password => 'secret');
    last if $r->{status} != 200;
    $accepted++;
}

is($r->{status}, 503, "full: 503 after $accepted events");
like($r->{body}, qr/"message":"the spool is full; Postmark will retry"/,
     'full: the answer says why');
cmp_ok($accepted, '>=', 5, 'full: it took events up to its size first');
my @full = $t->log_lines(qr/\[crit\].*postmark spool ".*" is full \(max_size=1048576\): 1 write refused since the last such line/);
is(scalar @full, 1, 'full: a crit line says so');

# the size is the workers' together: the other worker refuses too
ok(wait_for(sub {
       $r = $t->post('/webhook', $big, user => 'acme', password => 'secret');
       $accepted++ if $r->{status} == 200;
       $r->{status} == 503 }, 5),
   'full: another event is refused, whichever worker has it');
my %said;
$said{$_}++ for map { /\[crit\] (\d+)#/ } $t->log_lines(qr/is full/);
ok(!grep({ $_ > 1 } values %said),
   'full: each worker says it once, not for every event refused')
    or diag explain \%said;

$hook->clear;
$hook->start;

ok(wait_for(sub { $hook->count >= $accepted }, 20),
   'full: the accepted events are delivered once the destination is back');

ok(wait_for(sub {
       (my $b = $big) =~ s/"MessageID": "[^"]*"/"MessageID": "after-full"/;
       $t->post('/webhook', $b, user => 'acme',
                password => 'secret')->{status} == 200 }, 10),
   'full: delivered events free the spool: new events are taken again');

# --- a spool that cannot be written --------------------------------------

rmtree($spool);

$r = $t->post('/webhook', event(100), user => 'acme', password => 'secret');
is($r->{status}, 503, 'removed: the segment in use is found removed: 503');
like($r->{body}, qr/"spooled":0,"failed":1,"message":"the spool cannot be written; Postmark will retry"/,
     'removed: the answer says why');

# a worker that has a segment finds it removed; one without any cannot
# make one
ok($t->log_lines(qr/\[crit\].*postmark spool: (fstat|statx|open)\(\) of ".*\.seg" failed.*\(2: No such file or directory\)/),
   'removed: a crit line names the call and the file');

$r = $t->post('/webhook', event(100), user => 'acme', password => 'secret');
is($r->{status}, 503, 'unwritable: 503');

# a burst into a spool that cannot be written: each worker says it once,
# and what the failed writes held, not one line a write
my $b = burst($t, from => 200, to => 240, procs => 4);
is(scalar(grep { $_->[0] == 503 } values %$b), 40,
   'unwritable: a burst of 40 is answered 503');
my @open = $t->log_lines(qr/\[crit\].*postmark spool: open\(\) of ".*\.seg" failed.*\(2: No such file or directory\)/);
ok(@open, 'unwritable: no new segment can be made: a crit line names the '
   . 'call and the file');
my %open;
$open{$_}++ for map { /\[crit\] (\d+)#/ } @open;
ok(@open <= 2 && !grep({ $_ > 1 } values %open),
   'unwritable: each worker says the same failure once, not for each of '
   . 'the 40') or diag explain \%open;
ok(!grep({ !/\d+ writes? failed since the last such line, with \d+ events? \(answered 503: Postmark retries them\) and \d+ done marks?/ } @open),
   'unwritable: the line says what the failed writes held');

mkdir $spool or die $!;

# once the directory is back, each worker that failed says so at its
# next write
my %failed = map { /\[crit\] (\d+)#/ ? ($1 => 1) : () }
             $t->log_lines(qr/postmark spool: \S+.* of ".*" failed; /);
my ($again, $taken) = (0, 0);
ok(wait_for(sub {
       $r = $t->post('/webhook', event(300 + $again++), user => 'acme',
                     password => 'secret');
       $taken++ if $r->{status} == 200;
       my %back = map { /\[notice\] (\d+)#/ ? ($1 => 1) : () }
                  $t->log_lines(qr/postmark spool: writes succeed again/);
       !grep { !$back{$_} } keys %failed }, 10),
   'unwritable: once the directory is back, writes succeed again in every '
   . 'worker that failed');
is($taken, $again, 'unwritable: and every event is taken');

# every refused event is counted once, in the line of its failure or in
# the one that says what failed since
my $events = 0;
for ($t->log_lines(qr/postmark spool: .*(since the last such line|more failed before)/)) {
    $events += $1 if /, with (\d+) events?/;
}
is($events, 42, 'unwritable: the lines account for the 42 events refused');

ok(wait_for(sub { $hook->count >= $accepted + 1 + $taken }, 10),
   'unwritable: and what was taken is delivered');

$t->finish(allow => qr/is full|(open|opendir|fstat|statx)\(\) of/, more => 1);

# --- done marks that cannot be written -------------------------------------
#
# Deliveries drain a segment whose file can take no more bytes: every
# write of their done marks fails.  A file size limit on the worker does
# it (SIGXFSZ ignored, so a write past it fails with EFBIG); the error
# log, far below it, is still written.  The failure is said once, with
# what the writes held, and again when writes succeed.

SKIP: {
skip 'no prlimit(1) to limit the worker\'s file size', 1
    unless system('prlimit --version >/dev/null 2>&1') == 0;

my $u = PostmarkTest->new(log_level => 'notice');
my $sink = $u->standin('sink', mode => { delay => 0.1 });
my $limit = 1024 * 1024;

$u->write_config(<<"EOF");
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
        retry_backoff     100ms 300ms;
        circuit_breaker   off;
        forward ${\ $sink->url('/hook') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

{
    local $SIG{XFSZ} = 'IGNORE';    # inherited by nginx across exec
    $u->run;
}

# 30 events of 100 KB, 3 MB in one segment, while the destination is down
$sink->stop;
my $acked = 0;
for my $n (1 .. 30) {
    (my $b = $big) =~ s/"MessageID": "[^"]*"/"MessageID": "mark-$n"/;
    $acked++ if $u->post('/webhook', $b, user => 'acme',
                         password => 'secret')->{status} == 200;
}
is($acked, 30, 'done marks: 30 events spooled while the destination is down');

sub fsize {
    my ($soft) = @_;
    system('prlimit', '--pid', $_, "--fsize=$soft:unlimited") == 0
        or die "prlimit: $?" for $u->worker_pids;
}

# the segment ends past the limit: its done marks go past it too
fsize($limit);
$sink->start;

ok(wait_for(sub { my ($c) = arrivals($sink); keys %$c >= 30 }, 20),
   'done marks: every event is delivered');
my $pwrite = qr/\[crit\].*postmark spool: pwrite\(\) of ".*\.seg" failed; .* \(27: File too large\)$/;
ok(wait_for(sub { $u->log_lines($pwrite) }, 5),
   'done marks: the failed write is logged with the call, the file and why');
my @marks = $u->log_lines($pwrite);
is(scalar @marks, 1, 'done marks: once, not once a write');
like($marks[0] // '', qr/1 write failed since the last such line, with 0 events \(answered 503: Postmark retries them\) and [1-9]\d* done marks? \(their events may be delivered again after a restart\)/,
     'done marks: the line says the write held done marks only');

# once the last is done the segment is removed whole, without its mark
ok(wait_for(sub { my @seg = glob($u->dir . '/spool/*.seg'); !@seg }, 10),
   'done marks: the delivered segment is removed');

fsize('unlimited');

my $r = $u->post('/webhook', event(500), user => 'acme', password => 'secret');
is($r->{status}, 200, 'done marks: with room again, a new event is taken');
ok(wait_for(sub { $u->log_lines(qr/writes succeed again/) }, 5),
   'done marks: writes succeed again, and the log says so');
my ($again) = $u->log_lines(qr/writes succeed again/);
like($again // '', qr/\[notice\].*writes succeed again; [1-9]\d* more failed before, with 0 events and [1-9]\d* done marks/,
     'done marks: with the writes that failed meanwhile, and what they held');

my ($writes, $held) = (0, 0);
for (@marks, $again) {
    $writes += $1 // $2 if /(\d+) writes? failed since|(\d+) more failed before/;
    $held += $1 if /and (\d+) done marks?/;
}
cmp_ok($writes, '>', 2, "done marks: $writes failed writes, said in 2 lines");
# marks wait up to 100 ms for a write: those still in memory when the
# last delivery removed the segment were never written, nor failed
cmp_ok($held, '<=', 29, "done marks: the lines count the $held marks that "
       . 'failed, at most 29 (the 30th was not needed)');
ok($held >= $writes, 'done marks: each failed write held marks');

$u->finish(allow => qr/pwrite\(\) of/, more => 1);
}

done_testing();
