#!/usr/bin/perl

# However nginx holds the request body (one buffer, several, a temporary
# file; chunked or not; tens of megabytes), the destination receives the
# exact bytes Postmark sent.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest qw(payload wait_for);

my $t = PostmarkTest->new;
my $sink = $t->standin('sink');

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        forward ${\ $sink->url('/hook') } { timeout 30s; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        client_body_buffer_size 64k;
        client_max_body_size    1m;

        location = /memory { postmark_webhook; }

        location = /file {
            client_body_buffer_size 1k;
            postmark_webhook;
        }

        location = /file-only {
            client_body_in_file_only clean;
            postmark_webhook;
        }

        location = /big {
            client_max_body_size 30m;
            postmark_webhook;
        }
    }
}
EOF

$t->run;

my %auth = (user => 'acme', password => 'secret');
my $n = 0;

# posts, and checks that the one forwarded copy equals what was sent;
# returns the debug line in which the module described the body
sub forwarded_ok {
    my ($name, $path, $body, %opt) = @_;
    $sink->clear;
    my $r = $t->post($path, $body, %auth, %opt);
    is($r && $r->{status}, 200, "$name: 200");
    my @got = $sink->requests;
    is(scalar @got, 1, "$name: one forward");
    ok(@got && $got[0]{body} eq $body,
       "$name: forwarded byte for byte (" . length($body) . " bytes)");
    ok(@got && $got[0]{headers}{'content-length'} == length $body,
       "$name: forwarded with its length");
    my @lines = $t->log_lines(qr/postmark body:/);
    return $lines[-1] // '';
}

my $bounce = payload('bounce');

like(forwarded_ok('one buffer', '/memory', $bounce),
     qr/ \d+ bytes in 1 buffers, file:0/, 'one buffer: described as such');

# the ID of a Bounce is beyond 2^53, where doubles lose digits
my ($copy) = $sink->requests;
like($copy->{body}, qr/"ID": 4323372036854775807,/,
     'the 64-bit Bounce ID arrives unchanged');

# headers and the start of the body first, the rest later: nginx keeps
# the pre-read part and the rest in different buffers, and the module
# moves the first part in front in nginx's buffer and takes it over
my $padded = $bounce;
$padded =~ s/"Content": "<Full dump of bounce>"/
    '"Content": "' . ('<p>line<\/p>\n' x 600) . '"'/e;
like(forwarded_ok('split', '/memory', $padded,
                  parts => [substr($padded, 0, 300), substr($padded, 300)]),
     qr/ bytes in 1 buffers, file:0 mapped:0 taken:1/,
     'split: nginx\'s buffer taken over, the head\'s part in front');

# the head alone, then the body: all of it in nginx's buffer, taken over
like(forwarded_ok('after the head', '/memory', $padded,
                  parts => ['', $padded]),
     qr/ bytes in [1-9] buffers, file:0 mapped:0 taken:1/,
     'after the head: nginx\'s buffer taken over');

# a body in the head's buffer is small, and copied
like(forwarded_ok('in the head', '/memory', '{"RecordType":"Open"}'),
     qr/ bytes in 1 buffers, file:0 mapped:0 taken:0/,
     'in the head: copied');

# several reads into the buffer, in pieces: still one span, taken over
like(forwarded_ok('in pieces', '/memory', $padded,
                  parts => ['', substr($padded, 0, 2000),
                            substr($padded, 2000, 3000),
                            substr($padded, 5000)]),
     qr/ bytes in [2-9] buffers, file:0 mapped:0 taken:1/,
     'in pieces: nginx\'s buffer taken over');

like(forwarded_ok('temporary file', '/file', $padded),
     qr/ bytes in 1 buffers, file:1 mapped:1/,
     'temporary file: mapped, not read in the event loop');

like(forwarded_ok('file only', '/file-only', $bounce),
     qr/ bytes in 1 buffers, file:1 mapped:1/, 'file only: mapped');

like(forwarded_ok('chunked', '/memory', $padded, chunked => 100),
     qr/ mapped:0 taken:0/, 'chunked: copied without the framing');
forwarded_ok('chunked into a file', '/file', $padded, chunked => 333);

# escapes and text beyond ASCII pass as they came, never re-encoded
my $subject = '"Subject": "Caf\\u00e9 \\"quoted\\" \\\\ \\/ tab\\t '
            . "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 "
            . '\\ud83d\\ude00"';
my $text = $bounce;
$text =~ s{"Subject": "Test subject"}{$subject};
isnt($text, $bounce, 'the escaped payload differs from the sample');
forwarded_ok('escapes and non-ASCII', '/memory', $text);

# an Inbound message with a large attachment, as Postmark posts them
my $inbound = payload('inbound');
my $attachment = join '', map { chr(65 + $_ % 26) } 1 .. 76;
$attachment = ($attachment . '\\r\\n') x (20_000_000 / 80);
my $big = '"Attachments": [{"Name": "big.bin", "Content": "' . $attachment
        . '", "ContentType": "application/octet-stream", '
        . '"ContentLength": 15000000},';
$inbound =~ s{"Attachments": \[}{$big}
    or die 'no Attachments in the inbound sample';
cmp_ok(length $inbound, '>', 20_000_000, 'the Inbound message is over 20 MB');
like(forwarded_ok('20 MB Inbound', '/big', $inbound, timeout => 60),
     qr/ bytes in 1 buffers, file:1 mapped:1/,
     '20 MB Inbound: spooled by nginx, mapped');

# an event that large is read in a thread, not in the event loop
ok((grep { /reading the \d+ byte event in a thread/ } $t->log_lines(qr/postmark/)),
   '20 MB Inbound: read in a thread');

# in a thread too: a refusal says where, and a caller who leaves is no harm
{
    my $broken = $inbound;
    substr($broken, 15_000_000, 1) = "\x01";
    $sink->clear;
    my $r = $t->post('/big', $broken, %auth, timeout => 60);
    is($r && $r->{status}, 400, 'a 20 MB event with a control byte: 400');
    like($r && $r->{body}, qr/at byte 15000000\b/,
         'at the byte where it is') or diag $r->{body};
    is($sink->count, 0, 'and nothing forwarded');

    for (1 .. 3) {
        my $s = $t->send_request('/big', $inbound, %auth);
        close $s;
    }

    my $ok = $t->post('/memory', $bounce, %auth);
    is($ok && $ok->{status}, 200, 'callers who leave during the thread\'s '
       . 'read: nginx goes on serving');

    # theirs may still be forwarded: Postmark would send them again anyway
    wait_for(sub { $sink->count >= 4 }, 10);
}

# nginx refuses what is over client_max_body_size before the module runs
$sink->clear;
my $r = $t->post('/memory', $inbound, %auth);
is($r->{status}, 413, 'over client_max_body_size: 413');
$r = $t->post('/memory', $inbound, %auth, chunked => 65536);
is($r->{status}, 413, 'chunked over client_max_body_size: 413');
is($sink->count, 0, 'nothing forwarded');

for my $case (['empty', ''], ['empty chunked', '', chunked => 10]) {
    my ($name, $body, @opt) = @$case;
    my $r = $t->post('/memory', $body, %auth, @opt);
    is($r->{status}, 400, "$name: 400");
    like($r->{body}, qr/"message":"request body is empty"/,
         "$name: says the body is empty");
}

# the same connection keeps working after all this
forwarded_ok('after the big ones', '/memory', payload('delivery'));

$t->finish;
