#!/usr/bin/perl

# Each client's own view: through its portal location and with its portal
# key, GET .../_deliveries shows its destinations only, by name and host,
# with their health, backlog and last failed attempts (when, the status,
# the first bytes of the answer); never another client's names, never a
# URL, never a secret.  Read-only; other keys are refused.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event);

my $t = PostmarkTest->new;
my $ok = $t->standin('ok');
my $failing = $t->standin('failing');
my $other = $t->standin('other');

my %key = (acme => 'acme-portal-key-7b1f4c', beta => 'beta-portal-key-e93a02');

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
worker_processes 2;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret-webhook-password;
        server_token      acme-real-server-token-5e21;
        portal_key        $key{acme};
        forward ${\ $ok->url('/hooks/catch/123/abc') } { name crm; }
        forward ${\ $failing->url('/secret-path/xyz') } { name helpdesk; }
    }

    postmark_client beta {
        webhook_user      beta;
        webhook_password  secret-webhook-password-2;
        server_token      beta-real-server-token-0c9d;
        portal_key        $key{beta};
        forward ${\ $other->url('/beta-only') } { name beta-crm; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location /portal/acme/ { postmark_portal acme; }
        location /portal/beta/ { postmark_portal beta; }
    }
}
EOF
$t->run;

sub view {
    my ($client, $key, %opt) = @_;
    my %h = (Accept => 'application/json');
    $h{'X-Postmark-Server-Token'} = $key if defined $key;
    return $t->post($opt{target} // "/portal/$client/_deliveries", $opt{body},
                    method => $opt{method} // 'GET', headers => \%h);
}

$failing->set_mode(status => 503, headers => { 'X-Hint' => 'busy' });

for my $i (1 .. 3) {
    my $r = $t->post('/webhook', event($i), user => 'acme',
                     password => 'secret-webhook-password');
    is($r->{status}, 503, "event $i: one destination fails, Postmark retries");
}
$t->post('/webhook', event(9), user => 'beta',
         password => 'secret-webhook-password-2');

my $r = view('acme', $key{acme});
is($r->{status}, 200, 'a client sees its own deliveries with its portal key');
like($r->{headers}{'content-type'}, qr{^application/json}, 'as JSON');
my $v = eval { decode_json($r->{body}) } || {};

is($v->{client}, 'acme', 'its own');
is_deeply([sort keys %{ $v->{destinations} }], [qw(crm helpdesk)],
          'its destinations, by name');
my $help = $v->{destinations}{helpdesk};
is($help->{deliveries}{failed}, 3, 'the failures are counted');
is($help->{attempts}{'5xx'}, 3, 'as answers 5xx');
is(scalar @{ $help->{recent_failures} }, 3, 'the last failed attempts');
my ($last) = @{ $help->{recent_failures} };
is($last->{status}, 503, 'with the status');
is($last->{result}, '5xx', 'and the result');
like($last->{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'and when');
is($v->{destinations}{crm}{deliveries}{delivered}, 3,
   'the healthy one delivered everything');
is_deeply($v->{destinations}{crm}{recent_failures}, [],
          'and failed nothing');

unlike($r->{body}, qr/beta/, "another client's names never appear");
unlike($r->{body}, qr{/hooks/catch|secret-path|/beta-only},
       'no URL path, where webhook secrets live');
unlike($r->{body}, qr/real-server-token|secret-webhook-password|portal-key/,
       'no token, password or key');

# --- the other client sees its own only ----------------------------------

my $b = eval { decode_json(view('beta', $key{beta})->{body}) } || {};
is_deeply([keys %{ $b->{destinations} }], ['beta-crm'],
          'the other client sees its own destination only');

# --- refusals ---------------------------------------------------------------

is(view('acme', undef)->{status}, 401, 'without a key: 401');
is(view('acme', $key{beta})->{status}, 401,
   "another client's key at this portal: 401");
is(view('acme', 'acme-real-server-token-5e21')->{status}, 401,
   'the real server token is no portal key');
my $post = view('acme', $key{acme}, method => 'POST', body => '{}');
is($post->{status}, 405, 'the view is read-only');
like($post->{headers}{allow} // '', qr/GET/, 'and says what it takes');

# --- the view's path is matched as it was sent ----------------------------

# nginx decodes and normalises its own URI; the portal reads the raw
# target, so an encoded or dotted form of the view's path is refused as
# any such form of Postmark's paths is, never served
for my $target ('/portal/acme/%5Fdeliveries', '/portal/acme/%5fdeliveries',
                '/portal/acme/_deliverie%73', '/portal/acme/x/../_deliveries',
                '/portal/acme/./_deliveries', '/portal/acme//_deliveries',
                '/portal/acme/_deliveries/.',
                '/portal/beta/../acme/_deliveries')
{
    my $r = view('acme', $key{acme}, target => $target);
    my $e = eval { decode_json($r->{body}) } || {};
    is($r->{status}, 400, "$target: 400, not the view");
    is($e->{ErrorCode}, 9004, "$target: Postmark's shape, ErrorCode 9004")
        or diag $r->{body};
    ok(!exists $e->{destinations} && $r->{body} !~ /helpdesk|crm/,
       "$target: nothing of the view");
}

for my $target ('/portal/acme/_deliveries', '/portal/acme/_deliveries?x=1') {
    my $r = view('acme', $key{acme}, target => $target);
    my $v = eval { decode_json($r->{body}) } || {};
    is($r->{status}, 200, "$target: the view");
    is($v->{client}, 'acme', "$target: the client's own");
}

$t->finish;
