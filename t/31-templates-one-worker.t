#!/usr/bin/perl

# One worker process proxies Templates API calls to a stand-in Postmark
# served by that same worker: anything blocking would deadlock.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(read_file);

my $t = PostmarkTest->new;

$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 1024; }
http {
    %%TEST_GLOBALS_HTTP%%

    log_format upstream '$request $http_x_postmark_server_token';

    postmark_client acme {
        server_token real-token;
        portal_key   portal-key-of-acme;
        templates    full;
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;

        location /portal/ {
            postmark_api_url http://127.0.0.1:%%PORT_8080%%/postmark;
            postmark_portal acme;
        }

        # the stand-in Postmark: checks the token, as Postmark does
        location /postmark/ {
            access_log %%TESTDIR%%/logs/upstream.log upstream;
            default_type application/json;

            if ($http_x_postmark_server_token != "real-token") {
                return 401 '{"ErrorCode":10,"Message":"Bad token"}';
            }

            return 200 '{"TotalCount":0,"Templates":[]}';
        }
    }
}
EOF

$t->run;
is(scalar $t->worker_pids, 1, 'one worker process');

my %h = ('X-Postmark-Server-Token' => 'portal-key-of-acme');

my $r = $t->post('/portal/templates?Count=10&Offset=0', undef,
                 method => 'GET', headers => \%h);
is($r->{status}, 200, 'a call through the same worker: 200');
is($r->{body}, '{"TotalCount":0,"Templates":[]}', "the stand-in's answer");

my @socks = map {
    $t->send_request('/portal/templates?Count=' . $_ . '&Offset=0', undef,
                     method => 'GET', headers => \%h)
} 1 .. 40;

my $ok = grep { my $r = PostmarkTest::read_response($_, 30);
                $r && $r->{status} == 200 } @socks;
is($ok, 40, '40 concurrent calls: every one answered 200');

$t->stop;

my @up = split /\n/, read_file($t->dir . '/logs/upstream.log');
is(scalar @up, 41, 'each reached the stand-in once');
is(scalar(grep { / real-token$/ } @up), 41, 'each with the real token');

$t->finish;
