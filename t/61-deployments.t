#!/usr/bin/perl

# The module in an agency's nginx as it is: cache paths next to the spool
# (nginx's cache manager and loader run init_process too), clients in
# files of their own with "include", HTTP/2 clients (h2c and over TLS) of
# the receiver and of a portal, and Postmark keeping its connection alive
# across webhooks.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(wait_for payload read_file);
use PostmarkTest::PostmarkApi;
use PostmarkTest::Spool qw(event);

my $t = PostmarkTest->new;
my $sink = $t->standin('sink');
my $api = $t->standin('postmark', handler => PostmarkTest::PostmarkApi::handler(
    tokens => ['globex-server-token']));
my $dir = $t->dir;

system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/server.key "
       . "-out $dir/server.crt -days 2 -subj /CN=localhost 2>/dev/null") == 0
    or BAIL_OUT('openssl cannot make a certificate');

mkdir "$dir/$_" for qw(cache clients shared);

# one file per client, and snippets shared by destinations
$t->write_file('clients/acme.conf', <<"EOF");
postmark_client acme {
    include $dir/shared/acme-credentials.conf;
    delivery spooled;

    forward ${\ $sink->url('/acme/bounces') } {
        include $dir/shared/bounces-only.conf;
    }
    forward ${\ $sink->url('/acme/all') } { }
}
EOF
$t->write_file('shared/acme-credentials.conf',
               "webhook_user acme;\nwebhook_password secret;\n");
$t->write_file('shared/bounces-only.conf',
               "events Bounce;\ndelivery direct;\n");

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    proxy_cache_path   $dir/cache/proxy keys_zone=proxy:1m;
    fastcgi_cache_path $dir/cache/fastcgi keys_zone=fastcgi:1m;
    uwsgi_cache_path   $dir/cache/uwsgi keys_zone=uwsgi:1m;
    scgi_cache_path    $dir/cache/scgi keys_zone=scgi:1m;

    postmark_spool $dir/spool max_size=64m;

    include $dir/clients/*.conf;

    postmark_api_url ${\ $api->url('') };

    postmark_client globex {
        server_token globex-server-token;
        portal_key   globex-portal-key-over-h2;
        templates    full;
        activity     on;
    }

    log_format keepalive '\$connection \$connection_requests \$status';

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        listen 127.0.0.1:%%PORT_8081%% http2;
        listen 127.0.0.1:%%PORT_8443%% ssl http2;
        ssl_certificate     $dir/server.crt;
        ssl_certificate_key $dir/server.key;

        location = /webhook {
            postmark_webhook;
            access_log $dir/logs/keepalive.log keepalive;
        }

        location /portal/globex/ {
            postmark_portal globex;
        }
    }
}
EOF

$t->run;

my %acme = (user => 'acme', password => 'secret');

# --- cache manager and loader beside the spool -------------------------

sleep 3;
ok(!$t->log_lines(qr/exited on signal/), 'no process crashes beside the '
   . 'cache manager and loader');
my @procs = grep { /cache (manager|loader) process/ }
            map { read_file("/proc/$_/cmdline") } $t->worker_pids;
cmp_ok(scalar @procs, '>=', 1, 'the cache processes run');

# --- clients and destinations from included files ----------------------

my $r = $t->post('/webhook', payload('bounce'), %acme);
is($r->{status}, 200, 'a client from an included file: 200');
is_deeply([@{ decode_json($r->{body}) }{qw(destinations spooled)}], [2, 1],
          'with both destinations, one of them made direct by an '
          . 'included snippet');
ok(wait_for(sub { $sink->count == 2 }, 10), 'both get the Bounce');

$r = $t->post('/webhook', payload('delivery'), %acme);
is(decode_json($r->{body})->{destinations}, 1,
   'the included filter keeps a Delivery from the bounces destination');
ok(wait_for(sub { $sink->count == 3 }, 10), 'a forward without options '
   . 'takes every event');

# --- HTTP/2 clients ----------------------------------------------------

sub curl {
    my (@args) = @_;
    my $file = "$dir/event.json";
    open my $fh, '>', $file or die $!;
    print $fh event(scalar @args + int(rand 1e9));
    close $fh;
    my $out = `curl -s -o - -w '\\n%{http_code} %{http_version}' -u acme:secret --data-binary \@$file -H 'Content-Type: application/json' @args 2>&1`;
    return split /\n/, $out;
}

my @h2c = curl('--http2-prior-knowledge',
               'http://127.0.0.1:' . $t->port(8081) . '/webhook');
is($h2c[-1], '200 2', 'h2c: 200 over HTTP/2');
like($h2c[0], qr/"status":"spooled"/, 'h2c: the event is spooled');

my @h2 = curl('--http2', '-k',
              'https://127.0.0.1:' . $t->port(8443) . '/webhook');
is($h2[-1], '200 2', 'HTTP/2 over TLS: 200');

my $big = '{"RecordType":"Delivery","Details":"' . ('x' x 300000) . '"}';
open my $fh, '>', "$dir/big.json" or die $!;
print $fh $big;
close $fh;
my $out = `curl -s -o /dev/null -w '%{http_code} %{http_version}' -u acme:secret --data-binary \@$dir/big.json --http2 -k https://127.0.0.1:${\ $t->port(8443) }/webhook`;
is($out, '200 2', 'a large event over HTTP/2, read from a temporary file');
ok(wait_for(sub { grep { $_->{body} eq $big } $sink->requests }, 10),
   'and delivered byte for byte');

# a portal over HTTP/2: every request there has a scheme, and none is an
# absolute-form target
for my $case (['h2c', '--http2-prior-knowledge',
               'http://127.0.0.1:' . $t->port(8081)],
              ['HTTP/2 over TLS', '--http2 -k',
               'https://127.0.0.1:' . $t->port(8443)])
{
    my ($name, $flags, $base) = @$case;
    my $h = "-H 'X-Postmark-Server-Token: globex-portal-key-over-h2' "
          . "-H 'Accept: application/json'";
    $api->clear;

    my $out = `curl -s -w '\n%{http_code} %{http_version}' $flags $h '$base/portal/globex/bounces?count=10&offset=0'`;
    like($out, qr/"TotalCount":1.*\n200 2$/s, "$name: a portal reads its "
         . 'bounces over HTTP/2');

    $out = `curl -s -o /dev/null -w '%{http_code}' $flags $h -X PUT -H 'Content-Type: application/json' --data-binary '{"Subject":"x"}' '$base/portal/globex/templates/welcome-v1'`;
    is($out, '200', "$name: and edits a template, with its body");

    is_deeply([map { "$_->{method} $_->{path} $_->{body}" } $api->requests],
              ['GET /bounces?count=10&offset=0 ', 'PUT /templates/welcome-v1 '
               . '{"Subject":"x"}'],
              "$name: Postmark got both, canonical");
}

# --- one connection, several webhooks -----------------------------------

my @answers = $t->keepalive(map { ['/webhook', event(5000 + $_), %acme] }
                            1 .. 5);
is(scalar(grep { $_->{status} == 200 } @answers), 5,
   'five webhooks on one kept-alive connection: five 200s');

# (the log lines of earlier requests, over HTTP/2, may come in between;
# nginx writes a request's line after sending its answer, so the last one
# may come a moment after the client has read it)
my %conn;
wait_for(sub {
    %conn = ();
    for (grep { / 200$/ } split /\n/, read_file("$dir/logs/keepalive.log")) {
        my ($c, $n) = split / /;
        $conn{$c} .= "$n ";
    }
    grep { $_ eq '1 2 3 4 5 ' } values %conn;
}, 10);
is(scalar(grep { $_ eq '1 2 3 4 5 ' } values %conn), 1,
   'all on one connection, its requests 1 to 5')
    or diag explain \%conn;

$t->finish;
