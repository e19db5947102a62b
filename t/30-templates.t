#!/usr/bin/perl

# The Templates API proxy: a client's portal, with its portal key, may make
# exactly the Templates API calls its access level allows; each arrives at
# Postmark rebuilt from what was validated, with the client's real token,
# and Postmark's answer comes back as it was given.  Everything else is
# refused with Postmark-shaped JSON and never reaches Postmark.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(payload read_file repo_root);
use PostmarkTest::PostmarkApi;

my $t = PostmarkTest->new;

my %token = (acme => 'acme-real-server-token-3f1d',
             globex => 'globex-real-server-token-77aa');
my %key = (acme => 'acme-portal-key-9c2e', globex => 'globex-portal-key-41b0');

my $api = $t->standin('postmark', handler => PostmarkTest::PostmarkApi::handler(
    tokens => [values %token]));

$t->write_file('secrets/acme.token', "$token{acme}\n");
$t->write_file('secrets/acme.portal', "$key{acme}\n");

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    log_format audit '\$status \$postmark_client \$postmark_operation '
                     '\$postmark_template \$postmark_status '
                     '\$postmark_outcome';

    postmark_api_url     ${\ $api->url('/') };
    postmark_api_timeout 5s;

    postmark_client acme {
        server_token  file=secrets/acme.token;
        portal_key    file=secrets/acme.portal;
        templates     full;
    }

    postmark_client globex {
        server_token  $token{globex};
        portal_key    $key{globex};
    }

    postmark_client revoked {
        server_token  a-token-postmark-no-longer-knows;
        portal_key    revoked-portal-key;
        templates     full;
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        access_log %%TESTDIR%%/logs/audit.log audit;

        location /portal/acme/postmark/ {
            postmark_templates_max_body_size 16k;
            postmark_portal acme;
        }

        location /portal/globex {
            postmark_portal globex;
        }

        location /portal/revoked/ {
            postmark_portal revoked;
        }

        location /portal/slow/ {
            postmark_api_timeout 1s;
            postmark_portal acme;
        }
    }
}
EOF

$t->run;

my $base = '/portal/acme/postmark';

sub call {
    my ($method, $target, $body, %opt) = @_;
    my $key = exists $opt{key} ? $opt{key} : $key{acme};
    my %h = (%{ $opt{headers} || {} });
    $h{'X-Postmark-Server-Token'} = $key if defined $key;
    $h{'Content-Type'} //= 'application/json' if defined $body;
    $h{Accept} //= 'application/json';
    return $t->post(($opt{base} // $base) . $target, $body, method => $method,
                    headers => \%h, %{ $opt{raw} || {} });
}

sub postmark_shaped {
    my ($r) = @_;
    my $j = eval { decode_json($r->{body}) } or return 0;
    return ref $j eq 'HASH' && $j->{ErrorCode} =~ /^\d+$/
        && $j->{ErrorCode} > 0 && length $j->{Message};
}

# --- every allowed call, exactly as it reaches Postmark -----------------

my @allowed = (
    ['list, as postmark.js sends it', 'GET',
     '/templates?count=50&offset=0&templateType=Standard', undef,
     'GET', '/templates?Count=50&Offset=0&TemplateType=Standard',
     'templates-list', 'templates.list', '-'],
    ['list, as the docs write it', 'GET',
     '/templates?Count=100&Offset=10&TemplateType=All&LayoutTemplate=my-layout',
     undef, 'GET',
     '/templates?Count=100&Offset=10&TemplateType=All&LayoutTemplate=my-layout',
     'templates-list', 'templates.list', '-'],
    ['get by id', 'GET', '/templates/1234', undef, 'GET', '/templates/1234',
     'template-get', 'templates.get', '1234'],
    ['get by alias', 'GET', '/templates/welcome-v1', undef, 'GET',
     '/templates/welcome-v1', 'template-get', 'templates.get', 'welcome-v1'],
    ['create', 'POST', '/templates', payload('template-create-request'),
     'POST', '/templates', 'template-create-response', 'templates.create',
     '-'],
    ['edit', 'PUT', '/templates/welcome-v1',
     '{"Name":"Onboarding Email","Subject":"Hi \u00e9 \"{{name}}\""}', 'PUT',
     '/templates/welcome-v1', 'template-create-response', 'templates.edit',
     'welcome-v1'],
    ['delete', 'DELETE', '/templates/1234', undef, 'DELETE',
     '/templates/1234', 'template-delete-response', 'templates.delete',
     '1234'],
    ['validate', 'POST', '/templates/validate',
     '{"Subject":"{{subjectHeadline}}","HtmlBody":"{{name}}",'
     . '"TestRenderModel":{"ID":4323372036854775807}}',
     'POST', '/templates/validate', 'template-validate-response',
     'templates.validate', '-'],
);

my @audit;

for my $case (@allowed) {
    my ($name, $method, $target, $body, $up_method, $up_target, $answer,
        $op, $template) = @$case;

    $api->clear;
    my $r = call($method, $target, $body,
                 headers => { 'X-Custom' => 'evil', Cookie => 'a=b',
                              Authorization => 'Basic eDp5',
                              'X-Forwarded-For' => '1.2.3.4' });

    is($r->{status}, 200, "$name: 200");
    is($r->{body}, payload($answer), "$name: Postmark's answer, as it was");
    like($r->{headers}{'content-type'}, qr{^application/json; charset=utf-8$},
         "$name: Postmark's Content-Type");
    ok(!exists $r->{headers}{'set-cookie'}
       && !exists $r->{headers}{'x-pm-apierrorcode'},
       "$name: no cookie or other header of Postmark's passes");

    my @got = $api->requests;
    is(scalar @got, 1, "$name: one call to Postmark");
    my $up = $got[0];
    is("$up->{method} $up->{path}", "$up_method $up_target",
       "$name: method, path and query as expected");
    is($up->{headers}{'x-postmark-server-token'}, $token{acme},
       "$name: the client's real token");
    is($up->{headers}{accept}, 'application/json', "$name: Accept");
    is($up->{headers}{'content-type'}, defined $body ? 'application/json'
                                                     : undef,
       "$name: Content-Type, with a body only");
    like($up->{headers}{'user-agent'}, qr{^ngx_postmark_module/},
         "$name: the module's User-Agent");

    my @names = sort grep { $_ ne 'content-length' } keys %{ $up->{headers} };
    is_deeply(\@names, [defined $body
                        ? qw(accept content-type host user-agent
                             x-postmark-server-token)
                        : qw(accept host user-agent x-postmark-server-token)],
              "$name: no header of the caller's");
    is($up->{body}, $body // '', "$name: the body, byte for byte");

    my $all = join ' ', map { "$_: $up->{headers}{$_}" } keys %{ $up->{headers} };
    unlike("$all $up->{body}", qr/\Q$key{acme}\E/, "$name: no portal key");
    unlike($r->{raw}, qr/\Q$token{acme}\E/, "$name: no token in the answer");

    push @audit, "200 acme $op $template 200 proxied";
}

# --- read-only: what changes nothing, only -----------------------------

for my $case (['GET', '/templates?Count=10&Offset=0', undef, 200],
              ['GET', '/templates/my-layout', undef, 200],
              ['POST', '/templates/validate', '{"Subject":"x"}', 200],
              ['POST', '/templates', payload('template-create-request'), 403],
              ['PUT', '/templates/my-layout', '{"Name":"x"}', 403],
              ['DELETE', '/templates/5678', undef, 403])
{
    my ($method, $target, $body, $status) = @$case;
    $api->clear;
    my $r = call($method, $target, $body, key => $key{globex},
                 base => '/portal/globex');
    is($r->{status}, $status, "read-only $method $target: $status");
    if ($status == 403) {
        is(decode_json($r->{body})->{ErrorCode}, 9003,
           "read-only $method $target: ErrorCode 9003");
        is($api->count, 0, "read-only $method $target: Postmark not called");
    } else {
        is($api->requests && ($api->requests)[0]{headers}{'x-postmark-server-token'},
           $token{globex}, "read-only $method $target: globex's own token");
    }
}

# --- Postmark's own refusals pass through -------------------------------

$api->clear;
my $r = call('GET', '/templates/not-ours');
is($r->{status}, 422, "a template of another server: Postmark's 422");
is(decode_json($r->{body})->{ErrorCode}, 1101, 'with ErrorCode 1101');

# --- the portal key ------------------------------------------------------

for my $case (['no key', undef, 401, 10],
              ['wrong key', 'guess', 401, 10],
              ['another client\'s key', $key{globex}, 401, 10],
              ['the real token as key', $token{acme}, 401, 10])
{
    my ($name, $key, $status, $code) = @$case;
    $api->clear;
    my $r = call('GET', '/templates', undef, key => $key);
    is($r->{status}, $status, "$name: $status");
    is(decode_json($r->{body})->{ErrorCode}, $code, "$name: ErrorCode $code");
    ok(postmark_shaped($r), "$name: Postmark's error shape");
    is($api->count, 0, "$name: Postmark not called");
}

$r = call('GET', '/templates', undef,
          headers => { 'X-Postmark-Account-Token' => $key{acme} });
is($r->{status}, 400, 'an account token: 400');
like(decode_json($r->{body})->{Message}, qr/X-Postmark-Account-Token is not accepted/,
     'an account token: says why');

# --- hostile requests: refused, and Postmark never hears of them --------

my @hostile;

for (split /\n/, read_file(repo_root() . '/t/data/hostile-targets.txt')) {
    next if /^#/ || !/\S/;
    my ($method, $target) = /^(\S+) (\S+)$/ or die "bad line: $_";
    push @hostile, ["$method $target", $method, $target, undef];
}

my $create = payload('template-create-request');

push @hostile,
    ['body that is not JSON', 'POST', '/templates', 'Name=x'],
    ['body that is an array', 'POST', '/templates', "[$create]"],
    ['body that is a string', 'PUT', '/templates/welcome-v1', '"x"'],
    ['truncated body', 'POST', '/templates', substr($create, 0, 40)],
    ['body with trailing data', 'POST', '/templates/validate', '{}{}'],
    ['empty body', 'POST', '/templates', ''],
    ['body on a GET', 'GET', '/templates/1234', '{}'],
    ['body on a DELETE', 'DELETE', '/templates/1234', '{"x":1}'],
    ['oversized body', 'POST', '/templates',
     '{"HtmlBody":"' . ('x' x 20000) . '"}'],
    ['oversized chunked body', 'POST', '/templates',
     '{"HtmlBody":"' . ('x' x 20000) . '"}', raw => { chunked => 4096 }],
    ['account token', 'GET', '/templates', undef,
     headers => { 'X-Postmark-Account-Token' => 'acct' }],
    ['server token twice', 'GET', '/templates', undef,
     headers => { 'x-postmark-server-token' => $key{acme} }];

cmp_ok(scalar @hostile, '>=', 40, 'at least 40 hostile requests');

my %statuses;

for my $h (@hostile) {
    my ($name, $method, $target, $body, %opt) = @$h;
    $api->clear;

    my $r = $target =~ /[\x00-\x20]/ || $method eq 'CONNECT'
        ? raw("$method $base$target HTTP/1.1")
        : call($method, $target, $body, %opt);

    ok($r && $r->{status} =~ /^4\d\d$/, "$name: refused ("
       . ($r ? $r->{status} : 'no answer') . ')');
    is($api->count, 0, "$name: Postmark not called");
    $statuses{$r ? $r->{status} : 'none'}++;

    # nginx itself refuses some forms (TRACE, CONNECT, bad request lines)
    # before any module runs; all others are refused in Postmark's shape
    if ($r && $method ne 'HEAD'
        && ($r->{headers}{'content-type'} // '') =~ /json/)
    {
        ok(postmark_shaped($r), "$name: Postmark's error shape")
            or diag $r->{body};
        unlike($r->{raw}, qr/\Q$token{acme}\E/, "$name: no token shown");
    }
}

diag('hostile requests answered: '
     . join(', ', map { "$_ x$statuses{$_}" } sort keys %statuses));

# the absolute form of a request target
$api->clear;
$r = raw("GET http://evil.example$base/templates HTTP/1.1");
is($r->{status}, 400, 'absolute-form target: 400');
like($r->{body}, qr/absolute-form/, 'absolute-form target: says why');
is($api->count, 0, 'absolute-form target: Postmark not called');

# --- Postmark down, slow, failing, or refusing the agency's token -------

$r = call('GET', '/templates', undef, key => 'revoked-portal-key',
          base => '/portal/revoked');
is($r->{status}, 502, "Postmark refuses the agency's token: 502");
like(decode_json($r->{body})->{Message}, qr/refused this proxy's credentials/,
     "Postmark refuses the agency's token: says so");
like(($t->log_lines(qr/\[error\].*revoked/))[-1] // '',
     qr/postmark portal of client "revoked": Postmark refused the client's server_token \(401\)/,
     "Postmark refuses the agency's token: the log names the client");

$api->set_mode(status => 500);
$r = call('GET', '/templates/1234');
is($r->{status}, 500, 'Postmark answering 500: passed on');
is(decode_json($r->{body})->{ErrorCode}, 100, "with Postmark's body");

$api->set_mode(delay => 2);
$r = call('GET', '/templates/1234', undef, base => '/portal/slow');
is($r->{status}, 504, 'Postmark too slow: 504');
ok(postmark_shaped($r), 'Postmark too slow: Postmark-shaped');

$api->set_mode;
$api->stop;
$r = call('GET', '/templates/1234');
is($r->{status}, 502, 'Postmark unreachable: 502');
like(decode_json($r->{body})->{Message}, qr/could not be reached/,
     'Postmark unreachable: says so');

$api->start;
$r = call('GET', '/templates/1234');
is($r->{status}, 200, 'Postmark back: 200');

# --- the audit trail -----------------------------------------------------

$t->stop;

my @lines = split /\n/, read_file($t->dir . '/logs/audit.log');
is_deeply([@lines[0 .. $#audit]], \@audit,
          'access log: client, operation, template, Postmark status, outcome');
ok((grep { /^403 globex - - - refused$/ } @lines),
   'access log: a refused write');
ok((grep { /^401 acme - - - unauthorized$/ } @lines),
   'access log: a wrong key');
ok((grep { /^502 revoked templates.list - 401 upstream_failed$/ } @lines),
   "access log: Postmark's 401");

my $log = $t->error_log;
like($log, qr/\[warn\].*postmark portal of client "globex": refused POST: this client's templates are read-only/,
     'a refused call is logged at warn with client and reason');
my @ours = $t->module_log_lines;
ok(!grep({ /\Q$token{acme}\E|\Q$token{globex}\E|\Q$key{acme}\E|\Q$key{globex}\E/ } @ours),
   'no token or key in the module\'s log lines');

$t->finish;


# a request written by hand, for targets no client library would send
sub raw {
    my ($line, @headers) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port(8080))
        or return undef;
    print $s join("\r\n", $line, 'Host: localhost', 'Connection: close',
                  "X-Postmark-Server-Token: $key{acme}", @headers, '', '');
    return PostmarkTest::read_response($s, 10);
}
