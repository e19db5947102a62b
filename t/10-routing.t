#!/usr/bin/perl

# Every sample event reaches exactly the destinations whose filters match,
# with the bytes Postmark sent, and one client's events never reach another.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use MIME::Base64 ();

use PostmarkTest qw(payload read_file);

my $t = PostmarkTest->new;
my $a = $t->standin('a');
my $b = $t->standin('b');

$t->write_file('secrets/acme.password', "acme-pass\n");

# a destination whose URL carries credentials, percent-encoded
(my $creds = $b->url('/b/creds')) =~ s{^http://}{http://hook:p%40ss%20w\@};
(my $own_auth = $creds) =~ s{/b/creds}{/b/own-auth};

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    log_format postmark '\$status \$postmark_client \$postmark_event '
                        '\$postmark_message_id \$postmark_webhook_id '
                        '\$postmark_outcome';

    postmark_client acme {
        webhook_user      acme;
        webhook_password  file=secrets/acme.password;

        forward ${\ $a->url('/a/bounces') } {
            events Bounce SpamComplaint;
        }
        forward ${\ $a->url('/a/engagement') } {
            events Open Click;
            tags   welcome-email;
        }
        forward ${\ $a->url('/a/all?token=q') } {
            header X-Api-Key "k1 with spaces";
            header X-Client  acme;
        }
        forward ${\ $a->url('/a/meta') } {
            metadata a_key=a_value a_key=other;
        }
        forward ${\ $a->url('/a/meta-and') } {
            metadata a_key=a_value b_key=nope;
        }
        forward ${\ $a->url('/a/broadcast') } {
            streams broadcast;
        }
        forward ${\ $a->url('/a/inbound') } {
            events Inbound;
        }
    }

    postmark_client globex {
        webhook_user      globex;
        webhook_password  "globex pass";

        forward ${\ $b->url('/b/all') } { }
        forward ${\ $creds } { tags with-creds; }
        forward $own_auth {
            tags   with-creds;
            header Authorization "Bearer its-own";
            header User-Agent    "globex-forwarder/2";
        }
        forward ${\ $b->url('/b/subs') } {
            events  SubscriptionChange;
            streams outbound other;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        access_log %%TESTDIR%%/logs/postmark.log postmark;

        location = /postmark/webhook { postmark_webhook; }
        location = /globex/webhook   { postmark_webhook globex; }
    }
}
EOF

$t->run;

my %acme = (
    'bounce'              => [qw(/a/bounces /a/all?token=q /a/meta)],
    'spam-complaint'      => [qw(/a/bounces /a/all?token=q /a/meta)],
    'delivery'            => [qw(/a/all?token=q /a/meta)],
    'open'                => [qw(/a/engagement /a/all?token=q /a/meta)],
    'click'               => [qw(/a/engagement /a/all?token=q /a/meta)],
    'subscription-change' => [qw(/a/all?token=q)],
    'inbound'             => [qw(/a/all?token=q /a/inbound)],
);

my %ids;

for my $name (sort keys %acme) {
    my $body = payload($name);
    $a->clear;
    $b->clear;

    my $r = $t->post('/postmark/webhook', $body,
                     user => 'acme', password => 'acme-pass');

    is($r->{status}, 200, "$name: 200");
    my $answer = decode_json($r->{body});
    is($answer->{status}, 'forwarded', "$name: answer says forwarded");
    is($answer->{destinations}, scalar @{ $acme{$name} },
       "$name: answer counts the destinations");

    my @got = $a->requests;
    is_deeply([sort map { $_->{path} } @got], [sort @{ $acme{$name} }],
              "$name: reached exactly the matching destinations");
    is($b->count, 0, "$name: nothing reached the other client");

    my %seen_ids = map { $_->{headers}{'webhook-id'} => 1 } @got;
    is(scalar keys %seen_ids, 1, "$name: one webhook-id for every copy");
    is((keys %seen_ids)[0], $answer->{webhook_id},
       "$name: the answer names that webhook-id");
    $ids{$name} = $answer->{webhook_id};

    my @bad = grep { $_->{body} ne $body } @got;
    ok(!@bad, "$name: every copy is byte for byte the received body");

    my @wrong = grep {
        $_->{method} ne 'POST'
        || $_->{headers}{'content-type'} ne 'application/json'
        || $_->{headers}{'user-agent'} !~ m{^ngx_postmark_module/\d+\.\d+}
        || $_->{headers}{'webhook-id'} !~ /^msg_[0-9a-f]{32}$/
        || exists $_->{headers}{expect}
        || exists $_->{headers}{authorization}
    } @got;
    ok(!@wrong, "$name: method and headers are the module's own");
}

my ($all) = grep { $_->{path} eq '/a/all?token=q' } $a->requests;
is($all->{headers}{'x-api-key'}, 'k1 with spaces', 'static header sent');
is($all->{headers}{'x-client'}, 'acme', 'second static header sent');

# the URL's credentials, decoded, as Basic authorization
$b->clear;
(my $tagged = payload('delivery')) =~ s/"Tag": "[^"]*"/"Tag": "with-creds"/
    or die 'no Tag in the delivery sample';
my $cr = $t->post('/globex/webhook', $tagged, user => 'globex',
                  password => 'globex pass');
my ($with) = grep { $_->{path} eq '/b/creds' } $b->requests;
is($with && $with->{headers}{authorization},
   'Basic ' . MIME::Base64::encode_base64('hook:p@ss w', ''),
   "a URL's credentials arrive as Basic authorization");
unlike($t->error_log, qr/p%40ss|p\@ss/, 'and are never logged');

# the destination's own Authorization and User-Agent win, alone
my ($own) = grep { $_->{path} eq '/b/own-auth' } $b->requests;
is($own && $own->{headers}{authorization}, 'Bearer its-own',
   "a destination's own Authorization replaces the URL's credentials");
is($own && $own->{headers}{'user-agent'}, 'globex-forwarder/2',
   "and its own User-Agent the module's");

my %unique = reverse %ids;
is(scalar keys %unique, scalar keys %ids, 'different events, different ids');

# a stream filter matches the stream, nothing else
(my $broadcast = payload('bounce'))
    =~ s/"MessageStream": "outbound"/"MessageStream": "broadcast"/;
$a->clear;
my $r = $t->post('/postmark/webhook', $broadcast,
                 user => 'acme', password => 'acme-pass');
is($r->{status}, 200, 'broadcast bounce accepted');
is_deeply([sort map { $_->{path} } $a->requests],
          [sort qw(/a/bounces /a/all?token=q /a/meta /a/broadcast)],
          'stream filter picks the broadcast bounce');

# Postmark's retry of the same event carries the same id
$a->clear;
$r = $t->post('/postmark/webhook', payload('bounce'),
              user => 'acme', password => 'acme-pass');
is(decode_json($r->{body})->{webhook_id}, $ids{bounce},
   'a retry of the same event has the same webhook-id');
is($a->count, 3, 'and is forwarded again');

# the other client, through the shared location and its own
for my $path ('/postmark/webhook', '/globex/webhook') {
    for my $name (sort keys %acme) {
        $a->clear;
        $b->clear;
        my $r = $t->post($path, payload($name),
                         user => 'globex', password => 'globex pass');
        is($r->{status}, 200, "globex $name via $path: 200");
        my @want = $name eq 'subscription-change' ? qw(/b/all /b/subs)
                                                  : qw(/b/all);
        is_deeply([sort map { $_->{path} } $b->requests], \@want,
                  "globex $name via $path: its destinations only");
        is($a->count, 0, "globex $name via $path: nothing reached acme");
    }
}

$r = $t->post('/postmark/webhook', payload('bounce'),
              user => 'globex', password => 'globex pass');
isnt(decode_json($r->{body})->{webhook_id}, $ids{bounce},
     'the same body for another client has another id');

# a location fixed to one client refuses the other's valid credentials
$a->clear;
$r = $t->post('/globex/webhook', payload('bounce'),
              user => 'acme', password => 'acme-pass');
is($r->{status}, 401, 'acme credentials refused at the globex location');
is($a->count, 0, 'and nothing was forwarded');

# an event nobody wants is accepted, so Postmark does not retry it
(my $other = payload('delivery')) =~ s/"outbound"/"transactional-2"/;
$b->clear;
$r = $t->post('/globex/webhook', $other,
              user => 'globex', password => 'globex pass');
is($r->{status}, 200, 'delivery on an unknown stream: 200');
is(decode_json($r->{body})->{status}, 'forwarded', 'to the catch-all');
is_deeply([map { $_->{path} } $b->requests], ['/b/all'],
          'only the catch-all wanted it');

$t->stop;

my @log = split /\n/, read_file($t->dir . '/logs/postmark.log');
like($log[0], qr/^200 acme Bounce 883953f4-6105-42a2-a16a-77a8eac79483 msg_[0-9a-f]{32} forwarded$/,
     'log_format variables: client, event, MessageID, webhook-id, outcome');
my @inbound = grep { / Inbound / } @log;
like($inbound[0], qr/^200 acme Inbound 73e6d360-66eb-11e1-8e72-a8904824019b /,
     'an Inbound message is named Inbound');
ok((grep { /^401 - - - - unauthorized$/ } @log), 'a refused call is logged');

$t->finish;
