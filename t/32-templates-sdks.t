#!/usr/bin/perl

# The official SDKs, unmodified, against a client's portal location:
# postmark.js from npm (pinned in t/sdk/package-lock.json) and Debian's
# ruby-postmark.  Every Templates API call they make works, in the shape
# each SDK sends it, and reaches Postmark canonical, with the real token;
# every call the proxy refuses gives the SDK an error it understands, and
# never reaches Postmark.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest;
use PostmarkTest::PostmarkApi;
use PostmarkTest::Sdk;


my %token = (acme => 'acme-real-server-token',
             globex => 'globex-real-server-token');
my %key = (acme => 'acme-portal-key-for-sdks',
           globex => 'globex-portal-key-for-sdks');

my $t = PostmarkTest->new;
my $api = $t->standin('api', handler => PostmarkTest::PostmarkApi::handler(
                                 tokens => [values %token]));

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_api_url ${\ $api->url('') };

    postmark_client acme {
        server_token  $token{acme};
        portal_key    $key{acme};
        templates     full;
    }

    postmark_client globex {
        server_token  $token{globex};
        portal_key    $key{globex};
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location /portal/acme/postmark/ { postmark_portal acme; }
        location /portal/globex/postmark/ { postmark_portal globex; }
    }
}
EOF

$t->run;

my $port = $t->port(8080);

sub node {
    my ($client, $key) = @_;
    return PostmarkTest::Sdk::node('templates.js', $port,
                                   "/portal/$client/postmark", $key);
}

sub ruby {
    my ($client, $key) = @_;
    return PostmarkTest::Sdk::ruby('templates.rb', $port,
                                   "/portal/$client/postmark/", $key);
}

# what each SDK call must become at Postmark, or that it never gets there

my %js_wire = (
    'getTemplates' => 'GET /templates?Count=100&Offset=0',
    'getTemplates filtered' => 'GET /templates?Count=5&Offset=10'
                               . '&TemplateType=Layout'
                               . '&LayoutTemplate=my-layout',
    'getTemplate id' => 'GET /templates/1234',
    'getTemplate alias' => 'GET /templates/welcome-v1',
    'createTemplate' => 'POST /templates',
    'editTemplate' => 'PUT /templates/welcome-v1',
    'deleteTemplate' => 'DELETE /templates/5678',
    'validateTemplate' => 'POST /templates/validate',
    'getTemplate of another server' => 'GET /templates/99',
);

my %rb_wire = (
    'get_templates' => 'GET /templates?Count=30&Offset=0',
    'get_templates filtered' => 'GET /templates?Count=5&Offset=10',
    'get_template id' => 'GET /templates/1234',
    'get_template alias' => 'GET /templates/welcome-v1',
    'create_template' => 'POST /templates',
    'update_template' => 'PUT /templates/welcome-v1',
    'delete_template' => 'DELETE /templates/5678',
    'validate_template' => 'POST /templates/validate',
    'get_template of another server' => 'GET /templates/99',
);

my %writes = map { $_ => 1 } qw(createTemplate editTemplate deleteTemplate
                                 create_template update_template
                                 delete_template);

sub check {
    my ($sdk_name, $client, $wire, @results) = @_;
    my $read_only = $client eq 'globex';

    cmp_ok(scalar @results, '>=', 12, "$sdk_name, $client: every call ran")
        or diag explain \@results;

    my @expected;

    for my $r (@results) {
        my $name = "$sdk_name, $client: $r->{call}";
        my $wanted = $wire->{ $r->{call} };

        if ($wanted && !($read_only && $writes{ $r->{call} })) {
            push @expected, $wanted;

            if ($r->{call} =~ /another server/) {
                ok(!$r->{ok} && ($r->{status} // 0) == 422
                   && ($r->{code} // 0) == 1101,
                   "$name: Postmark's own 422 reaches the SDK as an error")
                    or diag explain $r;
            } else {
                ok($r->{ok}, "$name: works") or diag explain $r;
            }
            next;
        }

        if ($read_only && $writes{ $r->{call} }) {
            ok(!$r->{ok} && ($r->{status} // 0) == 403
               && ($r->{code} // 0) == 9003,
               "$name: refused as read-only, an SDK error with ErrorCode "
               . "9003") or diag explain $r;
            next;
        }

        ok(!$r->{ok} && ($r->{status} // 0) >= 400
           && ($r->{status} // 0) < 500 && $r->{code},
           "$name: refused, an SDK error with a status and an ErrorCode")
            or diag explain $r;
    }

    my @got = map { my ($path, $query) = split /\?/, $_->{path}, 2;
                    $query = defined $query ? "?$query" : '';
                    "$_->{method} $path$query" } $api->requests;

    is_deeply([sort @got], [sort @expected],
              "$sdk_name, $client: Postmark got exactly the allowed calls, "
              . 'canonical, and nothing refused');

    ok(!grep({ ($_->{headers}{'x-postmark-server-token'} // '')
               ne $token{$client} } $api->requests),
       "$sdk_name, $client: each with the client's real token, never the "
       . 'portal key');

    my ($create) = grep { $_->{method} eq 'POST' && $_->{path} eq '/templates' }
                   $api->requests;
    if ($create) {
        my $body = decode_json($create->{body});
        is($body->{Alias}, 'onboarding',
           "$sdk_name, $client: the template's JSON arrives as the SDK sent "
           . 'it');
    }

    $api->clear;
}

check('postmark.js', 'acme', \%js_wire, node('acme', $key{acme}));
check('postmark.js', 'globex', \%js_wire, node('globex', $key{globex}));
check('ruby-postmark', 'acme', \%rb_wire, ruby('acme', $key{acme}));
check('ruby-postmark', 'globex', \%rb_wire, ruby('globex', $key{globex}));

# one client's key at another's location: the SDK's own auth error
my ($wrong) = grep { $_->{call} eq 'getTemplates' } node('acme', $key{globex});
is($wrong->{error}, 'InvalidAPIKeyError', 'postmark.js: another client\'s '
   . 'key is an InvalidAPIKeyError') or diag explain $wrong;
is($api->count, 0, 'and nothing reached Postmark');

($wrong) = grep { $_->{call} eq 'get_templates' } ruby('globex', $key{acme});
is($wrong->{error}, 'Postmark::InvalidApiKeyError', 'ruby-postmark: an '
   . 'InvalidApiKeyError') or diag explain $wrong;
is($api->count, 0, 'and nothing reached Postmark');

$t->finish;
