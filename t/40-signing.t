#!/usr/bin/perl

# Signed forwards: Standard Webhooks headers whose signatures verify with an
# independent implementation (Perl's Digest::SHA, itself checked against the
# specification's test vector), one signature per secret when rotating, and
# made over exactly the bytes each destination receives.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use JSON::PP;

use PostmarkTest qw(payload);

# an implementation of the specification, independent of the module's

sub signature {
    my ($secret, $id, $ts, $body) = @_;
    (my $key = $secret) =~ s/^whsec_//;
    return 'v1,' . encode_base64(hmac_sha256("$id.$ts.$body",
                                             decode_base64($key)), '');
}

is(signature('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
             'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330,
             '{"test": 2432232314}'),
   'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
   "the test's own verifier matches the specification's vector");

my $old = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
my $new = 'whsec_' . encode_base64(join('', map { chr } 0 .. 31), '');

my $t = PostmarkTest->new;
my $sink = $t->standin('sink');

$t->write_file('secrets/old.whsec', "$old\n");
$t->write_file('secrets/new.whsec', "$new\n");

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;

        forward ${\ $sink->url('/signed') } {
            signing_secret file=secrets/old.whsec;
        }

        forward ${\ $sink->url('/rotating') } {
            signing_secret file=secrets/new.whsec;
            signing_secret $old;
        }

        forward ${\ $sink->url('/signed-and-trimmed') } {
            signing_secret file=secrets/new.whsec;
            remove_fields  Content Metadata.a_key;
        }

        forward ${\ $sink->url('/plain') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$t->run;

my $body = payload('bounce');
my $before = time;
my $r = $t->post('/webhook', $body, user => 'acme', password => 'secret');
my $after = time;
is($r->{status}, 200, 'forwarded: 200');
my $id = decode_json($r->{body})->{webhook_id};

my %got = map { $_->{path} => $_ } $sink->requests;
is(scalar keys %got, 4, 'four destinations');

my $signed = $got{'/signed'};
is($signed->{headers}{'webhook-id'}, $id, 'webhook-id is the event id');
my $ts = $signed->{headers}{'webhook-timestamp'};
ok(defined $ts && $ts =~ /^\d+$/ && $ts >= $before && $ts <= $after,
   'webhook-timestamp is the time of the attempt');
is($signed->{headers}{'webhook-signature'},
   signature($old, $id, $ts, $signed->{body}),
   'webhook-signature verifies');
is($signed->{body}, $body, 'the signed body is the received one');

my $rot = $got{'/rotating'};
my @sigs = split / /, $rot->{headers}{'webhook-signature'};
is(scalar @sigs, 2, 'two secrets, two signatures in one header');
is($sigs[0], signature($new, $id, $rot->{headers}{'webhook-timestamp'},
                       $rot->{body}), 'the first verifies with the new secret');
is($sigs[1], signature($old, $id, $rot->{headers}{'webhook-timestamp'},
                       $rot->{body}), 'the second with the old one');

my $trimmed = $got{'/signed-and-trimmed'};
isnt($trimmed->{body}, $body, 'the trimmed body differs');
unlike($trimmed->{body}, qr/"Content"|"a_key"/, 'without the removed fields');
is($trimmed->{headers}{'webhook-signature'},
   signature($new, $id, $trimmed->{headers}{'webhook-timestamp'},
             $trimmed->{body}),
   'the signature covers the bytes that were sent');

my $plain = $got{'/plain'};
ok(!exists $plain->{headers}{'webhook-signature'}
   && !exists $plain->{headers}{'webhook-timestamp'},
   'no secret, no signature');
is($plain->{headers}{'webhook-id'}, $id, 'but the same webhook-id');

# a tampered body or another timestamp does not verify
isnt(signature($old, $id, $ts, $body . ' '), $signed->{headers}{'webhook-signature'},
     'a changed body would not verify');
isnt(signature($old, $id, $ts + 1, $body), $signed->{headers}{'webhook-signature'},
     'another timestamp would not verify');

# the secrets appear in no log line of the module's
ok(!grep({ /MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw|\Q$new\E/ } $t->module_log_lines),
   'no signing secret in the log');

$t->finish;
