#!/usr/bin/perl

# Fields removed: each destination receives the event without the members
# it asked to lose, and with no other byte changed, on every sample payload.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(payload);

my $t = PostmarkTest->new;
my $sink = $t->standin('sink');

my @removed = qw(Geo.IP Content Headers Metadata.a_key Attachments ToFull
                 Client.Name);

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;

        forward ${\ $sink->url('/trimmed') } {
            remove_fields @removed[0 .. 3];
            remove_fields @removed[4 .. $#removed];
        }

        forward ${\ $sink->url('/whole') } { }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

$t->run;

# what removing the paths means, on the decoded JSON
sub without {
    my ($data, @paths) = @_;
    for my $path (@paths) {
        my @names = split /\./, $path;
        my $last = pop @names;
        my $node = $data;
        for (@names) {
            $node = ref $node eq 'HASH' ? $node->{$_} : undef;
        }
        delete $node->{$last} if ref $node eq 'HASH';
    }
    return $data;
}

sub subsequence {
    my ($short, $long) = @_;
    my $i = 0;
    for my $c (split //, $long) {
        $i++ if $i < length $short && substr($short, $i, 1) eq $c;
    }
    return $i == length $short;
}

my $json = JSON::PP->new->canonical;

for my $name (qw(bounce spam-complaint delivery open click
                 subscription-change inbound))
{
    my $body = payload($name);
    $sink->clear;

    my $r = $t->post('/webhook', $body, user => 'acme', password => 'secret');
    is($r->{status}, 200, "$name: 200");

    my %got = map { $_->{path} => $_->{body} } $sink->requests;
    is($got{'/whole'}, $body, "$name: the other destination gets it whole");

    my $trimmed = $got{'/trimmed'};
    my $parsed = eval { decode_json($trimmed) };
    ok($parsed, "$name: what is left is JSON");
    is($json->encode($parsed),
       $json->encode(without(decode_json($body), @removed)),
       "$name: exactly the named members are gone");
    ok(subsequence($trimmed, $body),
       "$name: made only by removing bytes, none changed");
}

# the 64-bit Bounce ID and the spacing of what is kept stay as they were
$sink->clear;
$t->post('/webhook', payload('bounce'), user => 'acme', password => 'secret');
my ($trimmed) = map { $_->{body} } grep { $_->{path} eq '/trimmed' }
                $sink->requests;
like($trimmed, qr/\n  "ID": 4323372036854775807,\n/,
     'the Bounce ID keeps its digits and its line');
like($trimmed, qr/"Metadata" : \{\n    "b_key": "b_value"\n   \}/,
     'Metadata keeps its odd spacing, without a_key');

# names written with escapes are the same names
my $escaped = '{"RecordType":"Open","\u0047eo":{"I\u0050":"8.8.8.8","City":"x"}}';
$sink->clear;
$t->post('/webhook', $escaped, user => 'acme', password => 'secret');
($trimmed) = map { $_->{body} } grep { $_->{path} eq '/trimmed' }
             $sink->requests;
is($trimmed, '{"RecordType":"Open","\u0047eo":{"City":"x"}}',
   'an escaped name matches, and the escapes of what is kept stay');

$t->finish;
