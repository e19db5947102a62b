#!/usr/bin/perl

# Forwards go over connections kept per destination, as the module's own
# HTTP/1.1 exchange: against a stock nginx that answers at once, many
# webhooks at a time are each forwarded once and answered 200, on a few
# connections, over TLS too, where the destination also offers HTTP/2; a
# destination that closes its idle connections, or closes after a number
# of requests, loses no event (a forward on a connection it closed goes
# once more on a fresh one, with the same webhook-id).

use strict;
use warnings;

use Test::More;
use POSIX qw(WNOHANG);

use PostmarkTest qw(wait_for read_file);
use PostmarkTest::Spool qw(event);

# a destination as fast as they come: nginx itself, over TLS too
my $dest = PostmarkTest->new(module => '', log_level => 'warn');
my $ddir = $dest->dir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $ddir/d.key "
       . "-out $ddir/d.crt -days 2 -subj /CN=localhost "
       . "-addext subjectAltName=IP:127.0.0.1 2>/dev/null") == 0
    or BAIL_OUT('openssl cannot make a certificate');

$dest->write_config(<<'EOF');
%%TEST_GLOBALS%%
worker_processes 1;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    log_format hook '$connection $connection_requests $request_uri '
                    '$http_webhook_id $request_length';

    server {
        listen 127.0.0.1:%%PORT_8081%%;
        keepalive_requests 1000;
        access_log %%TESTDIR%%/logs/hook.log hook;

        location = /hook { return 204; }
        location = /short { keepalive_timeout 1s; return 204; }
        location = /few {
            keepalive_requests 5;
            access_log %%TESTDIR%%/logs/few.log hook;
            return 204;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_8443%% ssl http2;
        ssl_certificate     %%TESTDIR%%/d.crt;
        ssl_certificate_key %%TESTDIR%%/d.key;
        keepalive_requests 1000;
        access_log %%TESTDIR%%/logs/tls.log hook;

        location = /tls { return 204; }
    }
}
EOF
$dest->run;
my $dport = $dest->port(8081);
my $tport = $dest->port(8443);

my $t = PostmarkTest->new(log_level => 'info');
$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 1;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        forward http://127.0.0.1:$dport/hook { }
    }

    postmark_client brief {
        webhook_user      brief;
        webhook_password  secret;
        forward http://127.0.0.1:$dport/short { }
    }

    postmark_client secure {
        webhook_user      secure;
        webhook_password  secret;
        forward https://127.0.0.1:$tport/tls {
            tls_trusted_certificate $ddir/d.crt;
        }
    }

    postmark_client few {
        webhook_user      few;
        webhook_password  secret;
        forward http://127.0.0.1:$dport/few { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF
$t->run;

# "procs" processes, each posting "n" events on one kept-alive connection
sub burst {
    my ($user, $procs, $n, $from) = @_;
    my @pids;

    for my $p (1 .. $procs) {
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            my @r = $t->keepalive(map {
                ['/webhook', event($from + $p * 10000 + $_), user => $user,
                 password => 'secret']
            } 1 .. $n);
            POSIX::_exit(scalar(grep { $_->{status} == 200 } @r) == $n
                         ? 0 : 1);
        }

        push @pids, $pid;
    }

    my $ok = 0;
    for (@pids) {
        waitpid $_, 0;
        $ok++ if $? == 0;
    }

    return $ok;
}

sub lines {
    my ($file, $re) = @_;
    return grep { /$re/ } split /\n/, read_file($dest->dir . "/logs/$file");
}

# --- many at once, on kept connections -------------------------------------

is(burst('acme', 8, 100, 0), 8, '8 connections of 100 webhooks each: every '
   . 'one answered 200');

my @got;
ok(wait_for(sub { (@got = lines('hook.log', qr{ /hook })) >= 800 }, 10),
   'the destination got 800 forwards');
my %ids = map { (split / /)[3] => 1 } @got;
is(scalar keys %ids, 800, 'each event once');

my %conns = map { (split / /)[0] => 1 } @got;
cmp_ok(scalar keys %conns, '<=', 16, 'over ' . scalar(keys %conns)
       . ' connections: they are kept and reused');
ok((grep { (split / /)[1] > 50 } @got), 'a connection carried over 50');

# --- over TLS, to a destination that also speaks HTTP/2 -------------------

is(burst('secure', 4, 50, 50_000), 4, 'over TLS, where the destination '
   . 'offers h2: every webhook 200');
my @tls;
wait_for(sub { (@tls = lines('tls.log', qr{ /tls })) >= 200 }, 10);
is(scalar(@tls), 200, 'it got all 200 events');
my %tconns = map { (split / /)[0] => 1 } @tls;
cmp_ok(scalar keys %tconns, '<=', 8, 'on ' . scalar(keys %tconns)
       . ' kept TLS connections');

# --- a destination that closes idle connections ----------------------------

is(burst('brief', 4, 10, 100_000), 4, 'to a destination with a 1 s '
   . 'keepalive_timeout: 200s');
sleep 2;        # it closes them all meanwhile
is(burst('brief', 4, 10, 200_000), 4, 'and again after it closed them: '
   . 'every webhook 200');

my @brief;
wait_for(sub { (@brief = lines('hook.log', qr{ /short })) >= 80 }, 10);
is(scalar(@brief), 80, 'the destination got each of the 80 events');
my %brief = map { (split / /)[3] => 1 } @brief;
is(scalar keys %brief, 80, 'once each');

# --- a destination that closes after five requests -------------------------

is(burst('few', 2, 30, 300_000), 2, 'to a destination closing after 5 '
   . 'requests: every webhook 200');
my @few;
wait_for(sub { (@few = lines('few.log', qr{ /few })) >= 60 }, 10);
is(scalar(@few), 60, 'it got all 60, once each');
ok(!grep({ (split / /)[1] > 5 } @few), 'never more than 5 on a connection');

ok(!$t->log_lines(qr/\[error\].*forward/), 'no forward failed');

# the plain nginx's own closing checks, then the module's
$dest->finish(more => 1);
$t->finish;
