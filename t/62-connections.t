#!/usr/bin/perl

# A worker with few connections: when nginx has none left for a forward's
# socket, that forward fails alone (503, and a log line that says why),
# and the next webhook goes through once connections are free again.
# Before, one such failure stopped every transfer of the worker.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;

use PostmarkTest qw(payload);

my $t = PostmarkTest->new;
my $dest = $t->standin('dest', mode => { delay => 0.2 });

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 16; }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        forward ${\ $dest->url('/hook') } { timeout 3s; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$t->run;

my $event = payload('delivery');

sub deliver {
    return $t->post('/webhook', $event, user => 'acme', password => 'secret',
                    timeout => 10);
}

# connections stuck in their request headers are not reusable: nginx
# cannot close them to make room; with enough of them, the forward's
# socket finds no connection

my ($starved, @after);

for my $held (8 .. 14) {
    my @conns = map {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
                                                  . $t->port(8080));
        syswrite $c, "POST /webhook HTTP/1.1\r\nHost: x\r\n" if $c;
        $c ? $c : ();
    } 1 .. $held;

    select undef, undef, undef, 0.3;

    my $r = deliver();
    close $_ for @conns;
    select undef, undef, undef, 0.3;

    push @after, deliver();

    if ($r && $r->{status} == 503) {
        $starved = $r;
        note("with $held connections held, the forward found none");
        last;
    }
}

ok($starved, 'a forward found no free connection')
    or BAIL_OUT('the scenario did not happen');
like($starved->{body}, qr/"failed":1/, 'it failed alone, with a 503');
ok(!grep({ !$_ || $_->{status} != 200 } @after),
   'every webhook after it, with connections free again, got 200');

my ($line) = $t->log_lines(qr/forward to .* failed/);
like($line, qr/postmark client "acme": forward to "http:\/\/127\.0\.0\.1:\d+\/hook" failed after \d+ ms: no free connection: all worker_connections are in use/,
     'the log names the client, the destination and the reason');

my $r = deliver();
is($r->{status}, 200, 'the worker keeps forwarding');

$t->finish(allow => qr/worker_connections are not enough/);
