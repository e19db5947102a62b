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

$t->finish(allow => qr/worker_connections are not enough/, more => 1);

# --- nginx takes back a kept connection, from inside curl -----------------
#
# With a connection kept to one destination and none free, a forward to
# another makes curl ask for a socket's connection; nginx then closes the
# oldest reusable one, the kept connection, from inside curl's callback,
# where curl must not be called.

my $stock = PostmarkTest->new(module => '', log_level => 'warn');
$stock->write_config(<<'EOF');
%%TEST_GLOBALS%%
worker_processes 1;
events { }
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:%%PORT_8081%%;
        keepalive_requests 1000;
        location = /keep { return 204; }
        location = /close { keepalive_timeout 0; return 204; }
    }
}
EOF
$stock->run;
my $sport = $stock->port(8081);

my $u = PostmarkTest->new(log_level => 'info');
$u->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 16; }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client kept {
        webhook_user      kept;
        webhook_password  secret;
        forward http://127.0.0.1:$sport/keep { timeout 5s; }
    }

    postmark_client fresh {
        webhook_user      fresh;
        webhook_password  secret;
        forward http://127.0.0.1:$sport/close { timeout 5s; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF
$u->run;

my ($n, $reclaimed, @answers) = (0, 0);

for my $held (2 .. 15) {
    push @answers, $u->post('/webhook', payload('delivery') =~ s/"MessageID": "/"MessageID": "$n-/r,
                            user => 'kept', password => 'secret',
                            timeout => 10);
    $n++;

    my @conns = map {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1:'
                                                  . $u->port(8080));
        syswrite $c, "POST /webhook HTTP/1.1\r\nHost: x\r\n" if $c;
        $c ? $c : ();
    } 1 .. $held;

    select undef, undef, undef, 0.3;

    push @answers, $u->post('/webhook', payload('delivery') =~ s/"MessageID": "/"MessageID": "$n-/r,
                            user => 'fresh', password => 'secret',
                            timeout => 10);
    $n++;

    close $_ for @conns;
    select undef, undef, undef, 0.3;
}

$reclaimed = () = $u->log_lines(qr/reusing connections/);
cmp_ok($reclaimed, '>', 0, "nginx took connections back ($reclaimed times)");
# with every connection held, nginx cannot take the test's own: no answer
ok(!grep({ $_ && $_->{status} !~ /^(200|503)$/ } @answers),
   'every webhook answered meanwhile got 200 or 503')
    or diag join ' ', map { $_ ? $_->{status} : 'none' } @answers;
cmp_ok(scalar(grep { $_ } @answers), '>=', @answers - 4,
       'nearly all were answered');
is($u->post('/webhook', payload('bounce'), user => 'kept',
            password => 'secret')->{status}, 200,
   'and forwards go on, on a new kept connection');

$stock->finish(more => 1);
$u->finish(allow => qr/worker_connections are not enough/);
