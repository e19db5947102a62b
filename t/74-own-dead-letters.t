#!/usr/bin/perl

# Each client's own dead letters, at its portal with its portal key:
# GET .../_dead-letters lists its own only, its destinations by name, never
# a URL or another client's; POST .../_dead-letters/replay sends them
# again when the agency set "portal_replay on" in the client block, and is
# refused otherwise.  Two workers: the letters are on disk, whichever
# worker answers.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event arrivals);

my $t = PostmarkTest->new;
my %s = map { $_ => $t->standin($_) } qw(acme beta);
my %key = (acme => 'acme-portal-key-5d0c2a', beta => 'beta-portal-key-91fe7b');

sub client {
    my ($name, $extra) = @_;
    return <<"EOF";
    postmark_client $name {
        webhook_user      $name;
        webhook_password  secret;
        server_token      $name-real-server-token-77;
        portal_key        $key{$name};
        delivery          spooled;
        retry_max_age     1s;
        retry_backoff     100ms 200ms;
        circuit_breaker   off;
        $extra
        forward ${\ $s{$name}->url("/private/$name-path") } { name $name-hook; }
    }
EOF
}

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=64m;

${\ client('acme', 'portal_replay on;') }
${\ client('beta', '') }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location /portal/acme/ { postmark_portal acme; }
        location /portal/beta/ { postmark_portal beta; }
    }
}
EOF
$t->run;

sub portal {
    my ($client, $method, $path, %opt) = @_;
    my $r = $t->post("/portal/$client$path",
                     $method eq 'POST' ? '' : undef, method => $method,
                     headers => { 'X-Postmark-Server-Token'
                                  => $opt{key} // $key{$client},
                                  Accept => 'application/json' });
    $r->{json} = eval { decode_json($r->{body}) } if $r;
    return $r;
}

$_->stop for values %s;

for my $client (qw(acme beta)) {
    for my $n (1 .. ($client eq 'acme' ? 5 : 3)) {
        is($t->post('/webhook', event($n), user => $client,
                    password => 'secret')->{status}, 200,
           "$client: event $n is spooled");
    }
}

ok(wait_for(sub {
       my $a = portal('acme', 'GET', '/_dead-letters');
       my $b = portal('beta', 'GET', '/_dead-letters');
       ($a->{json}{count} // 0) == 5 && ($b->{json}{count} // 0) == 3 }, 20),
   'their events became dead letters, five and three');

# --- the listing ---------------------------------------------------------

my $r = portal('acme', 'GET', '/_dead-letters');
is($r->{status}, 200, 'acme lists its dead letters');
is(scalar @{ $r->{json}{dead_letters} }, 5, 'all five of them');
ok(!grep({ $_->{client} ne 'acme' } @{ $r->{json}{dead_letters} }),
   'every one is acme\'s');
ok(!grep({ $_->{destination} ne 'acme-hook' } @{ $r->{json}{dead_letters} }),
   'its destination is shown by name');
unlike($r->{body}, qr/beta|private|acme-path|secret|token/,
       'no other client, no URL path, no secret in the answer (hosts are '
       . 'shown, as in the view of deliveries)');
ok(!grep({ exists $_->{file} } @{ $r->{json}{dead_letters} }),
   'nor the file a letter is kept in');
like($r->{json}{dead_letters}[0]{reason}, qr/retry_max_age/,
     'each says why it was given up');

$r = portal('acme', 'GET', '/_dead-letters?limit=2');
is(scalar @{ $r->{json}{dead_letters} }, 2, '?limit=2 lists two');
is($r->{json}{count}, 5, '... of the five');

$r = portal('acme', 'GET', '/_dead-letters?client=beta');
is($r->{status}, 400, 'a client filter is refused: a client sees its own');
like($r->{body}, qr/client/, '... naming it');
$r = portal('acme', 'GET', '/_dead-letters?limit=0');
is($r->{status}, 400, 'a limit of 0 is refused');

$r = portal('beta', 'GET', '/_dead-letters');
is($r->{json}{count}, 3, 'beta sees its own three');
unlike($r->{body}, qr/acme/, '... and nothing of acme');

$r = portal('beta', 'GET', '/_dead-letters', key => $key{acme});
is($r->{status}, 401, 'acme\'s key is refused at beta\'s portal');
is($r->{json}{ErrorCode}, 10, '... in Postmark\'s shape');

$r = portal('acme', 'PUT', '/_dead-letters');
is($r->{status}, 405, 'PUT on the listing: 405');
like($r->{headers}{allow} // '', qr/^GET, HEAD$/, '... Allow: GET, HEAD');

$r = portal('acme', 'GET', '/%5Fdead-letters');
is($r->{json}{ErrorCode}, 9004, 'an encoded form is refused as every '
   . 'other non-canonical target');

# --- the replay ----------------------------------------------------------

$r = portal('beta', 'POST', '/_dead-letters/replay');
is($r->{status}, 403, 'beta may not replay: no portal_replay');
is($r->{json}{ErrorCode}, 9011, '... in Postmark\'s shape');
like($r->{json}{Message}, qr/not allowed/, '... saying so');

$r = portal('acme', 'GET', '/_dead-letters/replay');
is($r->{status}, 405, 'a replay is a POST');

$s{acme}->start;
$r = portal('acme', 'POST', '/_dead-letters/replay');
is($r->{status}, 200, 'acme replays its dead letters');
is($r->{json}{replayed}, 5, '... all five') or diag $r->{body};

ok(wait_for(sub { my ($c) = arrivals($s{acme}); keys(%$c) == 5 }, 20),
   'they arrive at acme\'s endpoint');
is(portal('acme', 'GET', '/_dead-letters')->{json}{count}, 0,
   'and are no longer dead letters');
is(portal('beta', 'GET', '/_dead-letters')->{json}{count}, 3,
   'beta\'s are untouched');
is($s{beta}->count, 0, 'and nothing went to beta');

# --- nginx -t -------------------------------------------------------------

my $c = PostmarkTest->new;
my ($rc, $out) = $c->config_test(<<"EOF", 'bad.conf');
%%TEST_GLOBALS%%
events { }
http {
    postmark_client a {
        webhook_user a; webhook_password b; portal_replay on;
        forward http://127.0.0.1:1/ { }
    }
}
EOF
isnt($rc, 0, 'portal_replay without a portal is refused');
like($out, qr/"portal_replay" of postmark client "a" needs "server_token" and "portal_key" in \S+bad\.conf:\d+/,
     '... saying what it needs, with file and line');

$t->finish;
