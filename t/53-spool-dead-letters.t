#!/usr/bin/perl

# Events that run out of retries (retry_max_age, made short here) become
# dead letters with the reason and the last answer; so do those whose
# destination left the configuration.  The agency lists them, filtered,
# and replays them once the endpoint is fixed: they arrive with their
# webhook-id.  The administration wants its key, and says what it has.
# Two workers: the dead letters and their listing are the spool's, on
# disk, whichever worker made or answers them; the per-destination
# status is that of the worker that answers.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event arrivals admin);

my $KEY = 'k' x 32;
my $N = 40;     # dead at once: more than are written at a time

my $t = PostmarkTest->new;
my $acme = $t->standin('acme');
my $globex = $t->standin('globex');
my $other = $t->standin('other');

my $acme_url = $acme->url('/hook');
my $globex_url = $globex->url('/hook');

sub config {
    my ($globex_forward) = @_;
    $t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=64m;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        delivery          spooled;
        retry_max_age     2s;
        retry_backoff     100ms 500ms;
        circuit_breaker   off;
        forward $acme_url { }
    }

    postmark_client globex {
        webhook_user      globex;
        webhook_password  secret;
        delivery          spooled;
        forward $globex_forward { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location /postmark-admin/ { postmark_spool_admin $KEY; }
    }
}
EOF
}

config($globex_url);
$t->run;

$acme->stop;
$globex->stop;

my %id;

my $acked = 0;
for my $n (1 .. $N) {
    my $r = $t->post('/webhook', event($n), user => 'acme',
                     password => 'secret');
    $acked++ if $r->{status} == 200;
    ($id{$n}) = $r->{body} =~ /"webhook_id":"(msg_\w+)"/;
}
is($acked, $N, "$N acme events acknowledged");

my @g = ($N + 1, $N + 2);
for my $n (@g) {
    my $r = $t->post('/webhook', event($n), user => 'globex',
                     password => 'secret');
    is($r->{status}, 200, "globex event $n acknowledged");
    ($id{$n}) = $r->{body} =~ /"webhook_id":"(msg_\w+)"/;
}

# --- out of retries ---------------------------------------------------

ok(wait_for(sub { $t->log_lines(qr/moved to the dead letters/) >= $N }, 10),
   'after retry_max_age the acme events become dead letters');
like(($t->log_lines(qr/moved to the dead letters/))[0],
     qr/postmark client "acme": Delivery event \(webhook-id msg_\w{32}\) for "\Q$acme_url\E" moved to the dead letters after \d+ attempts: retry_max_age passed; last answer: .*(Connection refused|connect)/,
     'the log line has the client, event, webhook-id, reason and last answer');

my $r = admin($t, GET => '/postmark-admin/dead-letters');
is($r->{status}, 200, 'list: 200');
is($r->{json}{count}, $N, "list: $N dead letters");

$r = admin($t, GET => "/postmark-admin/dead-letters?limit=$N");
my @dl = @{ $r->{json}{dead_letters} };
is_deeply([sort map { $_->{webhook_id} } @dl], [sort @id{1 .. $N}],
          'list: the webhook-ids of the acme events');
my $d = $dl[0];
is($d->{client}, 'acme', 'list: the client');
is($d->{destination}, $acme_url, 'list: the destination');
is($d->{event}, 'Delivery', 'list: the event type');
is($d->{reason}, 'retry_max_age passed', 'list: the reason');
cmp_ok($d->{attempts}, '>=', 2, "list: $d->{attempts} attempts");
like($d->{last_answer}, qr/refused|connect/i, 'list: the last answer');
like($d->{received}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
     'list: when it was received');
like($d->{file}, qr/^\d{13}-\d+-\d+\.dead$/, 'list: its file');
my %n = reverse %id;
is($d->{event_bytes}, length event($n{ $d->{webhook_id} }), 'list: its size');

$r = admin($t, GET => '/postmark-admin/dead-letters?limit=2');
is(scalar @{ $r->{json}{dead_letters} }, 2, 'limit: two listed');
is($r->{json}{count}, $N, 'limit: all counted');

$r = admin($t, GET => '/postmark-admin/dead-letters?client=globex');
is($r->{json}{count}, 0, 'filter: none of globex yet');

(my $escaped = $acme_url) =~ s/([:\/])/sprintf '%%%02X', ord $1/ge;
$r = admin($t, GET => "/postmark-admin/dead-letters?destination=$escaped");
is($r->{json}{count}, $N, 'filter: by destination, percent-encoded');

ok(wait_for(sub {
       (admin($t, GET => '/postmark-admin/')->{json}{dead_letters} // 0)
       == $N }, 5), "status: $N dead letters on disk");

# --- a destination gone from the configuration -------------------------

config($other->url('/other'));
$t->reload;

ok(wait_for(sub { $t->log_lines(qr/moved to the dead letters after 0 attempts: the destination is no longer configured/) >= 2 }, 10),
   'the events of a removed destination become dead letters');

$r = admin($t, GET => '/postmark-admin/dead-letters?client=globex');
is($r->{json}{count}, 2, 'filter: two of globex now');
is_deeply([sort map { $_->{webhook_id} } @{ $r->{json}{dead_letters} }],
          [sort @id{@g}], 'with their webhook-ids');

# --- parameters: a typo must never widen a replay ------------------------

$r = admin($t, POST => '/postmark-admin/dead-letters/replay?clients=acme');
is($r->{status}, 400, 'replay with a misspelt filter: 400');
is($r->{json}{message}, 'unknown parameter "clients"; this call takes '
   . '"client", "destination"', 'the answer names it, and what the call takes');
is(admin($t, GET => '/postmark-admin/dead-letters')->{json}{count}, $N + 2,
   'and nothing was replayed');

for my $case (
    ['/replay?client=acme&client=globex', 'POST', qr/^parameter "client" is repeated$/],
    ['/replay?limit=5', 'POST', qr/^unknown parameter "limit"; this call takes "client", "destination"$/],
    ['?limit=5&limit=6', 'GET', qr/^parameter "limit" is repeated$/],
    ['?destinations=x', 'GET', qr/^unknown parameter "destinations"; this call takes "client", "destination", "limit"$/],
    ['?Client=acme', 'GET', qr/^unknown parameter "Client"/],
    ['?client=acme&x', 'GET', qr/^unknown parameter "x"/],
) {
    my ($query, $method, $re) = @$case;
    $r = admin($t, $method => "/postmark-admin/dead-letters$query");
    is($r->{status}, 400, "$method dead-letters$query: 400");
    like($r->{json}{message}, $re, "$method dead-letters$query: says why");
}

$r = admin($t, GET => '/postmark-admin/?verbose=1');
is($r->{status}, 400, 'the status with a parameter: 400');
is($r->{json}{message}, 'the spool\'s status takes no query parameters',
   'and says so');

# a body sent with a GET is read and dropped, never taken for a request
my @two = $t->keepalive(
    ['/postmark-admin/', "GET /postmark-admin/nothing HTTP/1.1\r\n\r\n",
     method => 'GET', headers => { Authorization => 'Bearer ' . $KEY }],
    ['/postmark-admin/', '', method => 'GET',
     headers => { Authorization => 'Bearer ' . $KEY }]);
is_deeply([map { $_->{status} } @two], [200, 200],
          'a status with a body, then another on the same connection: '
          . 'two answers, both the status');

# --- replay ----------------------------------------------------------------

$acme->start;

$r = admin($t, POST => '/postmark-admin/dead-letters/replay?client=acme');
is($r->{status}, 200, 'replay: 200');
is_deeply([@{ $r->{json} }{qw(status replayed skipped)}], ['replayed', $N, 0],
          "replay: $N replayed") or diag $r->{body};

ok(wait_for(sub { $acme->count >= $N }, 10), 'replay: they arrive');
my ($count, $body) = arrivals($acme);
is_deeply([sort keys %$count], [sort @id{1 .. $N}],
          'replay: under their first webhook-ids');
ok(!(grep { $body->{ $id{$_} } ne event($_) } 1 .. $N),
   'replay: byte for byte');

$r = admin($t, GET => '/postmark-admin/dead-letters');
is($r->{json}{count}, 2, 'replay: replayed letters are gone, the rest stay');

$r = admin($t, POST => '/postmark-admin/dead-letters/replay');
is_deeply([@{ $r->{json} }{qw(replayed skipped)}], [0, 2],
          'replay: letters of a destination no longer spooled are skipped')
    or diag $r->{body};

$r = admin($t, GET => '/postmark-admin/dead-letters');
is($r->{json}{count}, 2, 'and stay');

# --- the administration's own answers ------------------------------------

$r = $t->post('/postmark-admin/', undef, method => 'GET');
is($r->{status}, 401, 'no key: 401');
like($r->{headers}{'www-authenticate'}, qr/^Bearer/, 'with a Bearer challenge');

$r = admin($t, GET => '/postmark-admin/', key => 'x' x 32);
is($r->{status}, 401, 'a wrong key: 401');
ok($t->log_lines(qr/postmark spool admin: wrong key/), 'logged');

$r = admin($t, GET => '/postmark-admin/dead-letters/replay');
is($r->{status}, 405, 'replay with GET: 405');
is($r->{headers}{allow}, 'POST', 'Allow: POST');

$r = admin($t, POST => '/postmark-admin/dead-letters');
is($r->{status}, 405, 'the list with POST: 405');

$r = admin($t, GET => '/postmark-admin/nothing');
is($r->{status}, 404, 'an unknown path: 404');
like($r->{json}{message}, qr/dead-letters/, 'which names what there is');

$r = admin($t, GET => '/postmark-admin/dead-letters?limit=0');
is($r->{status}, 400, 'limit=0: 400');

$r = admin($t, GET => '/postmark-admin/');
is($r->{status}, 200, 'status: 200');
is($r->{json}{destinations}[0]{client}, 'acme', 'status: destinations');
ok(exists $r->{json}{destinations}[0]{pending}, 'status: their backlog');
my $worker = $r->{json}{worker} // 0;
ok(grep({ $_ == $worker } $t->worker_pids),
   'status: it names the worker whose backlog it shows');

ok(!(grep { /\Q$KEY\E/ && !/\[debug\]/ } split /\n/, $t->error_log),
   'the key never appears in the log (but for the headers of debug logs)');

$t->finish;
