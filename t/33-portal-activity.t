#!/usr/bin/perl

# A client's portal reads its own activity, as Postmark's "server viewer"
# role shows it: messages, opens, clicks, inbound, bounces, statistics,
# message streams, and (when turned on) suppressions.  Each allowed call
# reaches Postmark rebuilt from what was validated, with the client's real
# token, and Postmark's answer comes back byte for byte.  Whatever a viewer
# could not do, or that would show the agency's secrets, is refused in
# Postmark's shape and never reaches Postmark.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(read_file repo_root);
use PostmarkTest::PostmarkApi;

my $t = PostmarkTest->new;

my %token = (acme => 'acme-real-server-token-5e21',
             globex => 'globex-real-server-token-0c9d',
             initech => 'initech-real-server-token-a4f7');
my %key = (acme => 'acme-portal-key-7b1f4c',
           globex => 'globex-portal-key-e93a02',
           initech => 'initech-portal-key-11d8e6');

my $api = $t->standin('postmark', handler => PostmarkTest::PostmarkApi::handler(
    tokens => [values %token]));

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    log_format audit '\$status \$postmark_client \$postmark_operation '
                     '\$postmark_status \$postmark_outcome';

    postmark_api_url ${\ $api->url('/') };

    # everything a portal can be given
    postmark_client acme {
        server_token  $token{acme};
        portal_key    $key{acme};
        templates     full;
        activity      on;
        suppressions  on;
    }

    # activity, without the suppression list
    postmark_client globex {
        server_token  $token{globex};
        portal_key    $key{globex};
        activity      on;
    }

    # activity only: no templates at all
    postmark_client initech {
        server_token  $token{initech};
        portal_key    $key{initech};
        templates     off;
        activity      on;
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        access_log %%TESTDIR%%/logs/audit.log audit;

        location /portal/acme/ { postmark_portal acme; }
        location /portal/globex/ { postmark_portal globex; }
        location /portal/initech/ { postmark_portal initech; }
    }
}
EOF

$t->run;

sub call {
    my ($method, $target, %opt) = @_;
    my $client = $opt{client} // 'acme';
    my $key = exists $opt{key} ? $opt{key} : $key{$client};
    my %h = (Accept => 'application/json', %{ $opt{headers} || {} });
    $h{'X-Postmark-Server-Token'} = $key if defined $key;
    return $t->post("/portal/$client$target", $opt{body}, method => $method,
                    headers => \%h);
}

sub error_of {
    my ($r) = @_;
    my $j = eval { decode_json($r->{body}) };
    return ref $j eq 'HASH' ? $j : {};
}

my $MSG = '0ac29aee-e1cd-480d-b08d-4f48548ff48d';
my $IN = '73e6d360-66eb-11e1-8e72-a8904824019b';
my $BOUNCE = '4323372036854775807';

# --- every allowed call, as it reaches Postmark --------------------------

# what the portal asks, what Postmark must receive, the answer it gives,
# and the operation the access log names
my @allowed = (
    ['/messages/outbound?count=100&offset=0',
     '/messages/outbound?count=100&offset=0',
     'outbound-messages', 'messages.outbound'],
    ['/messages/outbound?count=25&offset=50&recipient=john%40example.com'
     . '&fromEmail=hello%40acme.example&tag=welcome-email&status=Sent'
     . '&fromDate=2026-11-01&toDate=2026-11-30T23:59:59'
     . '&subject=Welcome%20aboard&messageStream=outbound'
     . '&metadata_customer-id=42',
     '/messages/outbound?count=25&offset=50&recipient=john%40example.com'
     . '&fromemail=hello%40acme.example&tag=welcome-email&status=sent'
     . '&fromdate=2026-11-01&todate=2026-11-30T23%3A59%3A59'
     . '&subject=Welcome%20aboard&messagestream=outbound'
     . '&metadata_customer-id=42',
     'outbound-messages', 'messages.outbound'],
    ["/messages/outbound/$MSG/details", "/messages/outbound/$MSG/details",
     'message-details', 'messages.outbound.details'],
    ["/messages/outbound/$MSG/dump", "/messages/outbound/$MSG/dump",
     'message-dump', 'messages.outbound.dump'],
    ['/messages/outbound/opens?count=10&offset=0&client_name=Gmail'
     . '&os_family=Android&platform=Mobile&country=Serbia',
     '/messages/outbound/opens?count=10&offset=0&client_name=Gmail'
     . '&os_family=Android&platform=Mobile&country=Serbia',
     'opens', 'messages.opens'],
    ["/messages/outbound/opens/$MSG?count=50&offset=0",
     "/messages/outbound/opens/$MSG?count=50&offset=0",
     'opens', 'messages.opens.message'],
    ['/messages/outbound/clicks?count=10&offset=0&city=Novi+Sad',
     '/messages/outbound/clicks?count=10&offset=0&city=Novi%20Sad',
     'clicks', 'messages.clicks'],
    ["/messages/outbound/clicks/$MSG?count=5&offset=0",
     "/messages/outbound/clicks/$MSG?count=5&offset=0",
     'clicks', 'messages.clicks.message'],
    ['/messages/inbound?count=10&offset=0&mailboxHash=abc&status=processed',
     '/messages/inbound?count=10&offset=0&mailboxhash=abc&status=processed',
     'inbound-messages', 'messages.inbound'],
    ["/messages/inbound/$IN/details", "/messages/inbound/$IN/details",
     'inbound-details', 'messages.inbound.details'],
    ['/deliveryStats', '/deliverystats', 'delivery-stats', 'bounces.stats'],
    ['/bounces?count=100&offset=0&type=hardbounce&inactive=True'
     . '&emailFilter=example.com&messagestream=outbound',
     '/bounces?count=100&offset=0&type=HardBounce&inactive=true'
     . '&emailFilter=example.com&messagestream=outbound',
     'bounces', 'bounces.list'],
    ["/bounces?messageID=$MSG", "/bounces?messageID=$MSG", 'bounces',
     'bounces.list'],
    ["/bounces/$BOUNCE", "/bounces/$BOUNCE", 'bounce', 'bounces.get'],
    ["/bounces/$BOUNCE/dump", "/bounces/$BOUNCE/dump", 'bounce-dump',
     'bounces.dump'],
    ['/stats/outbound?tag=welcome-email&fromdate=2026-11-01'
     . '&todate=2026-11-30&messagestream=outbound',
     '/stats/outbound?tag=welcome-email&fromdate=2026-11-01'
     . '&todate=2026-11-30&messagestream=outbound',
     'stats-overview', 'stats.overview'],
    (map { ["/stats/outbound/$_->[0]?fromdate=2026-11-29",
            "/stats/outbound/" . lc($_->[0]) . '?fromdate=2026-11-29',
            'stats-days', $_->[1]] }
     ['sends', 'stats.sends'], ['bounces', 'stats.bounces'],
     ['spam', 'stats.spam'], ['tracked', 'stats.tracked'],
     ['opens', 'stats.opens'],
     ['opens/platforms', 'stats.opens.platforms'],
     ['opens/emailClients', 'stats.opens.clients'],
     ['opens/readTimes', 'stats.opens.readtimes'],
     ['clicks', 'stats.clicks'],
     ['clicks/browserFamilies', 'stats.clicks.browsers'],
     ['clicks/platforms', 'stats.clicks.platforms'],
     ['clicks/location', 'stats.clicks.location']),
    ['/message-streams?messageStreamType=all&includeArchivedStreams=false',
     '/message-streams?MessageStreamType=All&IncludeArchivedStreams=false',
     'message-streams', 'streams.list'],
    ['/message-streams/outbound', '/message-streams/outbound',
     'message-stream', 'streams.get'],
    ['/message-streams/outbound/suppressions/dump?suppressionReason='
     . 'HardBounce&origin=recipient&fromdate=2026-01-01',
     '/message-streams/outbound/suppressions/dump?SuppressionReason='
     . 'HardBounce&Origin=Recipient&fromdate=2026-01-01',
     'suppressions', 'suppressions.dump'],
);

my @audit;

for my $case (@allowed) {
    my ($target, $upstream, $answer, $op) = @$case;
    my $name = "GET $target";

    # an Accept of the caller's own: what reaches Postmark is the module's
    $api->clear;
    my $r = call('GET', $target,
                 headers => { Cookie => 'portal=1', 'X-Custom' => 'evil',
                              'Content-Type' => 'application/json',
                              Accept => 'text/html, */*;q=0.1' });

    is($r->{status}, 200, "$name: 200");
    my $want = read_file(repo_root() . "/t/data/api/$answer.json");
    chomp $want;
    is($r->{body}, $want, "$name: Postmark's answer, byte for byte");
    is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
       "$name: Postmark's Content-Type, as it sent it");
    ok(!exists $r->{headers}{'set-cookie'}, "$name: no cookie of Postmark's");

    my @got = $api->requests;
    is(scalar @got, 1, "$name: one call to Postmark");
    is("$got[0]{method} $got[0]{path}", "GET $upstream",
       "$name: canonical at Postmark");
    is($got[0]{headers}{'x-postmark-server-token'}, $token{acme},
       "$name: the client's real token");
    is($got[0]{headers}{accept}, 'application/json',
       "$name: Accept: application/json, as Postmark requires");
    is_deeply([sort grep { $_ ne 'content-length' } keys %{ $got[0]{headers} }],
              [qw(accept host user-agent x-postmark-server-token)],
              "$name: no header of the caller's, no Content-Type on a GET");

    push @audit, "200 acme $op 200 proxied";
}

# the largest id Postmark gives a bounce survives as it was written
like(call('GET', "/bounces/$BOUNCE")->{body}, qr/"ID":$BOUNCE,/,
     'a bounce ID beyond 2^53 comes back as Postmark wrote it');

# --- Postmark's own refusals pass through --------------------------------

for my $case (["/messages/outbound/$IN/details", 422, 701],
              ['/bounces/692560173', 422, 1001],
              ['/message-streams/broadcast', 422, 1226])
{
    my ($target, $status, $code) = @$case;
    my $r = call('GET', $target);
    is($r->{status}, $status, "GET $target: Postmark's $status");
    is(error_of($r)->{ErrorCode}, $code, "GET $target: ErrorCode $code");
    is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
       "GET $target: with Postmark's Content-Type");
}

# --- what each client's portal was given --------------------------------

my $dump = '/message-streams/outbound/suppressions/dump';

for my $case (['globex', 'GET', '/bounces?count=10&offset=0', 200],
              ['globex', 'GET', '/templates?Count=10&Offset=0', 200],
              ['globex', 'GET', $dump, 403, 9011,
               qr/suppressions of this client's streams/],
              ['globex', 'POST', '/templates', 403, 9003, qr/read-only/],
              ['initech', 'GET', '/stats/outbound', 200],
              ['initech', 'GET', '/templates?Count=10&Offset=0', 403, 9011,
               qr/no access to its templates/],
              ['initech', 'GET', '/templates/1234', 403, 9011,
               qr/no access to its templates/],
              ['initech', 'GET', $dump, 403, 9011,
               qr/suppressions of this client's streams/])
{
    my ($client, $method, $target, $status, $code, $message) = @$case;
    my $name = "$client $method $target";
    $api->clear;
    my $r = call($method, $target, client => $client,
                 body => $method eq 'POST' ? '{"Name":"x"}' : undef,
                 headers => $method eq 'POST'
                            ? { 'Content-Type' => 'application/json' } : {});
    is($r->{status}, $status, "$name: $status");
    if ($status == 200) {
        is(($api->requests)[0]{headers}{'x-postmark-server-token'},
           $token{$client}, "$name: with $client\'s own token");
        next;
    }
    is(error_of($r)->{ErrorCode}, $code, "$name: ErrorCode $code");
    like(error_of($r)->{Message}, $message, "$name: says why");
    is($api->count, 0, "$name: Postmark not called");
}

# a body declared on a call that takes none is refused before it is read
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port(8080))
        or die "connect: $!";
    print $s "GET /portal/acme/bounces?count=10&offset=0 HTTP/1.1\r\n"
        . "Host: localhost\r\nX-Postmark-Server-Token: $key{acme}\r\n"
        . "Content-Length: 500000\r\n\r\n0123456789";
    $api->clear;
    my $r = PostmarkTest::read_response($s, 5);
    is($r && $r->{status}, 400, 'a GET declaring a body: 400 at once');
    is($r && error_of($r)->{ErrorCode}, 9009, 'with ErrorCode 9009');
    is($api->count, 0, 'a GET declaring a body: Postmark not called');
}

# --- the portal key, and other clients' keys ----------------------------

for my $case (['no key', 'acme', undef], ['wrong key', 'acme', 'guess'],
              ["globex's key at acme's portal", 'acme', $key{globex}],
              ["acme's key at initech's portal", 'initech', $key{acme}],
              ["acme's real token as a key", 'acme', $token{acme}])
{
    my ($name, $client, $key) = @$case;
    $api->clear;
    my $r = call('GET', '/bounces?count=10&offset=0', client => $client,
                 key => $key);
    is($r->{status}, 401, "$name: 401");
    is(error_of($r)->{ErrorCode}, 10, "$name: Postmark's ErrorCode 10");
    is($api->count, 0, "$name: Postmark not called");
}

# an account token is refused even beside the client's own, valid key:
# the portal serves one server, and an account token reaches them all
for my $case (['an account token with a valid portal key', $key{acme}],
              ['an account token alone', undef])
{
    my ($name, $key) = @$case;
    $api->clear;
    my $r = call('GET', '/stats/outbound', key => $key,
                 headers => { 'X-Postmark-Account-Token' => $token{acme} });
    is($r->{status}, 400, "$name: 400");
    is(error_of($r)->{ErrorCode}, 9007, "$name: ErrorCode 9007");
    like(error_of($r)->{Message}, qr/X-Postmark-Account-Token is not accepted/,
         "$name: says why");
    is($api->count, 0, "$name: Postmark not called");
}

# methods no activity path takes: 405 with what it does take, and Postmark
# never called; HEAD's answer has the head only
for my $case (['HEAD', '/stats/outbound'], ['HEAD', "/bounces/$BOUNCE"],
              ['OPTIONS', '/messages/outbound?count=10&offset=0'],
              ['OPTIONS', '/deliverystats'],
              ['PROPFIND', "/messages/outbound/$MSG/details"],
              ['PURGE', '/bounces?count=10&offset=0'])
{
    my ($method, $target) = @$case;
    my $name = "$method $target";
    $api->clear;
    my $r = call($method, $target);
    is($r && $r->{status}, 405, "$name: 405");
    is($r && $r->{headers}{allow}, 'GET', "$name: Allow: GET");
    if ($method eq 'HEAD') {
        is($r && $r->{body}, '', "$name: no body");
    } else {
        is(error_of($r)->{ErrorCode}, 9002, "$name: ErrorCode 9002");
    }
    is($api->count, 0, "$name: Postmark not called");
}

# --- hostile requests: refused, and Postmark never hears of them ---------

my %statuses;
my $hostile = 0;

for (split /\n/, read_file(repo_root() . '/t/data/hostile-portal.txt')) {
    next if /^#/ || !/\S/;
    my ($method, $target) = /^(\S+) (\S+)$/ or die "bad line: $_";
    my $name = "$method $target";
    $hostile++;

    $api->clear;
    my $body = $method =~ /^(POST|PUT|PATCH)$/ ? '{}' : undef;
    my $r = call($method, $target, body => $body,
                 headers => defined $body
                            ? { 'Content-Type' => 'application/json' } : {});

    ok($r && $r->{status} =~ /^4\d\d$/,
       "$name: refused (" . ($r ? $r->{status} : 'no answer') . ')');
    is($api->count, 0, "$name: Postmark not called");
    $statuses{$r ? $r->{status} : 'none'}++;

    # a path that climbs out of the location is nginx's own 404 or 400;
    # everything the portal sees is refused in Postmark's shape
    next unless $r && ($r->{headers}{'content-type'} // '') =~ /json/;
    my $e = error_of($r);
    ok($e->{ErrorCode} && length $e->{Message},
       "$name: Postmark's error shape") or diag $r->{body};
    unlike($r->{raw}, qr/\Q$token{acme}\E/, "$name: no token shown");
}

cmp_ok($hostile, '>=', 60, 'at least 60 hostile requests');
diag('hostile requests answered: '
     . join(', ', map { "$_ x$statuses{$_}" } sort keys %statuses));

# the refusals that matter most say which rule they break
for my $case (['GET', '/server', 403, 9010, qr/API tokens/],
              ['GET', '/webhooks', 403, 9010, qr/webhook/i],
              ['PUT', "/bounces/$BOUNCE/activate", 403, 9003, qr/read-only/],
              ['GET', '/bounces/tags', 404, 9001, qr/no longer/],
              ['GET', '/messages/outbound?count=501&offset=0', 422, 700,
               qr/count/i],
              ['GET', '/bounces?count=10&offset=0&type=Nothing', 422, 1000,
               qr/type/i],
              ['GET', '/stats/outbound?token=x', 400, 9005, qr/token/])
{
    my ($method, $target, $status, $code, $message) = @$case;
    my $r = call($method, $target);
    is($r->{status}, $status, "$method $target: $status");
    is(error_of($r)->{ErrorCode}, $code, "$method $target: ErrorCode $code");
    like(error_of($r)->{Message}, $message, "$method $target: says why");
}

# --- the audit trail -----------------------------------------------------

$t->stop;

my @lines = split /\n/, read_file($t->dir . '/logs/audit.log');
is_deeply([@lines[0 .. $#audit]], \@audit,
          'access log: client, operation, Postmark status, outcome');
ok((grep { /^403 acme - - refused$/ } @lines), 'access log: a refusal');

like($t->error_log,
     qr/\[warn\].*postmark portal of client "acme": refused GET: /,
     'a refusal is logged at warn with the client');
my @ours = $t->module_log_lines;
ok(!grep({ my $l = $_; grep { index($l, $_) >= 0 } values %token, values %key }
         @ours),
   'no token or key in the module\'s log lines');

$t->finish;
