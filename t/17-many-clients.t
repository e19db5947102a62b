#!/usr/bin/perl

# An agency with thousands of clients: each webhook finds its own client
# among 3,000 by user (a hundred of them, some of which share their first
# place in the table of users and sit further along); an unknown user and
# a wrong password are told apart in the log;
# and after a restart, spooled events of many clients each go to their own
# client's destination (the spool's records name client and destination,
# found again in a sorted index).

use strict;
use warnings;

use Test::More;

use PostmarkTest qw(wait_for);

my $N = 3000;

my $t = PostmarkTest->new(log_level => 'info');
my $hook = $t->standin('hook');

$t->write_file('clients.conf', join '', map { <<"EOF" } 1 .. $N);
postmark_client c$_ {
    webhook_user      user$_;
    webhook_password  password-of-$_;
    delivery          spooled;
    retry_backoff     100ms 500ms;
    forward ${\ $hook->url("/c$_") } { }
}
EOF

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=64m;

    include %%TESTDIR%%/clients.conf;

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location = /c1500 { postmark_webhook c1500; }
    }
}
EOF

$t->run;

sub event {
    my ($n) = @_;
    return qq({"RecordType":"Delivery","MessageID":"m-$n","Recipient":)
         . qq("r$n\@example.com"});
}

# --- each webhook finds its own client ----------------------------------

my @some = ((map { 1 + 30 * $_ } 0 .. 99), 1500, 3000);

for my $i (@some) {
    my $r = $t->post('/webhook', event($i), user => "user$i",
                     password => "password-of-$i");
    is($r->{status}, 200, "user$i of $N: 200");
}

ok(wait_for(sub { $hook->count >= @some }, 20), 'every event arrives');
is_deeply([sort map { $_->{path} } $hook->requests],
          [sort map { "/c$_" } @some],
          "each at its own client's destination");

for my $case (['nobody', 'password-of-1', qr/unknown webhook user/],
              ['user1500', 'password-of-1501',
               qr/wrong password for the webhook user of client "c1500"/],
              ['user3000', '', qr/wrong password .* client "c3000"/],
              ['user30001', 'password-of-3000', qr/unknown webhook user/])
{
    my ($user, $password, $line) = @$case;
    my $r = $t->post('/webhook', event(0), user => $user,
                     password => $password);
    is($r->{status}, 401, "$user with a wrong password or none: 401");
    like(($t->log_lines(qr/postmark webhook: /))[-1] // '', $line,
         "$user: the log says which");
}

# a location bound to one client takes only its credentials
is($t->post('/c1500', event(1), user => 'user1500',
            password => 'password-of-1500')->{status}, 200,
   'a location bound to c1500: its own credentials');
is($t->post('/c1500', event(1), user => 'user1501',
            password => 'password-of-1501')->{status}, 401,
   "and not another client's");
ok(wait_for(sub { $hook->count == @some + 1 }, 20)
   && ($hook->requests)[-1]{path} eq '/c1500', 'to c1500\'s destination');

# --- after a restart, the spool's records find their destinations -------

# (once its answer is written whole: stopped in the middle of it, the
# delivery fails and comes again after the restart, rightly)
wait_for(sub { $hook->answered >= @some + 1 }, 10);
$hook->stop;
$hook->clear;

my @later = map { 37 * $_ } 1 .. 60;

for my $i (@later) {
    my $r = $t->post('/webhook', event($i), user => "user$i",
                     password => "password-of-$i");
    is($r->{status}, 200, "user$i, the destination down: 200, spooled")
        or last;
}

is($t->stop, 0, 'the first nginx exits cleanly on QUIT too');
$hook->start;
$t->run;

ok(wait_for(sub { $hook->count >= @later }, 30),
   'after the restart, every spooled event arrives');
is_deeply([sort map { $_->{path} } $hook->requests],
          [sort map { "/c$_" } @later],
          "each at its own client's destination, once");

$t->finish;
