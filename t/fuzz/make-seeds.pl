#!/usr/bin/perl

# Seeds for the fuzz targets: the hostile request targets of the tests and
# calls that are allowed, for the route core; the sample payloads and JSON
# that parsers read differently, for the JSON scanner and the event core,
# and with paths to remove, for the field-removal core; spool segments for
# the record core; destinations' answers, whole and broken, for the answer
# core.
# Usage: make-seeds.pl ROUTE_DIR JSON_DIR EVENT_DIR TRIM_DIR RECORD_DIR
#                      ANSWER_DIR

use strict;
use warnings;

use Compress::Zlib qw(crc32);
use File::Basename qw(dirname);

my ($route, $json, $event, $trim, $record, $answer) = @ARGV;
my $root = dirname(__FILE__) . '/../..';
my %method = (GET => 1, POST => 2, PUT => 3, DELETE => 4, PATCH => 5);
my $n = 0;

sub seed {
    my ($dir, $bytes) = @_;
    open my $fh, '>', sprintf('%s/seed-%03d', $dir, ++$n) or die $!;
    binmode $fh;
    print $fh $bytes;
    close $fh;
}

my @lines;
for my $file (qw(hostile-targets.txt hostile-portal.txt)) {
    open my $h, '<', "$root/t/data/$file" or die "$file: $!";
    push @lines, grep { /^\S+ \S/ && !/^#/ } <$h>;
}
my $msg = '0ac29aee-e1cd-480d-b08d-4f48548ff48d';
push @lines, "GET /templates?Count=10&Offset=0\n", "POST /templates\n",
             "PUT /templates/welcome\n", "DELETE /templates/42\n",
             "POST /templates/validate\n", "GET /templates/welcome-v1\n",
             "GET /messages/outbound?count=50&offset=0&fromDate=2026-11-01"
             . "&recipient=a%2Bb%40c.example&metadata_k=v\n",
             "GET /messages/outbound/$msg/details\n",
             "GET /messages/outbound/opens/$msg?count=50&offset=0\n",
             "GET /messages/inbound?count=10&offset=0&status=processed\n",
             "GET /bounces?count=5&offset=0&type=HardBounce&inactive=true\n",
             "GET /bounces/4323372036854775807/dump\n",
             "GET /stats/outbound/opens/emailClients?fromdate=2026-01-01\n",
             "GET /message-streams?MessageStreamType=All\n",
             "GET /message-streams/outbound/suppressions/dump?Origin=Admin\n";

# the second byte as route_fuzz.c reads it: templates (0 off, 1 read-only,
# 2 full) are the byte % 3, activity its bit 2, suppressions its bit 3
sub scope {
    my ($templates, $activity, $suppressions) = @_;
    for my $b (0 .. 255) {
        return chr($b) if $b % 3 == $templates && ($b >> 2 & 1) == $activity
                          && ($b >> 3 & 1) == $suppressions;
    }
    die "no byte for scope @_";
}

# methods in the first byte; the client's scope in the second: templates
# full with activity and suppressions, or read-only with activity
my @scopes = (scope(2, 1, 1), scope(1, 1, 0));

for my $line (@lines) {
    chomp $line;
    my ($m, $target) = split / /, $line, 2;
    seed($route, chr($method{$m} // 0) . $_ . $target) for @scopes;
}

my @ambiguous = (
    '{"RecordType":"Bounce","RecordType":"Delivery"}',
    '{"Record\\u0054ype":"Open","RecordType":"Click"}',
    '{"RecordType":"Bounce\\u0000Delivery"}',
    '{"Tag":"\\uZZZZ","Metadata":{"a":"1","a":"2"}}',
    '{"Tag":"\\u00zz"}',
    '{"Tag":"\\ud800","Metadata":{"k":true,"n":4.5e1,"o":null}}',
    "\xEF\xBB\xBF{}",
    '{"a":[' . ('[' x 600) . (']' x 600) . ']}',
    '{"a":-0.0e+1,"b":"caf\xc3\xa9","c":"\xed\xa0\x80"}',
);

for my $file (glob("$root/examples/payloads/*.json")) {
    my $text = do { local (@ARGV, $/) = $file; <> };
    seed($json, $text);
    seed($event, $text);
    seed($trim, "Geo.IP Content Metadata.a_key Headers\n$text");
    seed($trim, "RecordType MessageID\n$text");
}

for my $text (@ambiguous) {
    seed($json, $text);
    seed($event, $text);
    seed($trim, "RecordType Tag Metadata.a\n$text");
}

# records as ngx_http_postmark_record.h lays them out
sub record {
    my ($type, $fields) = @_;
    my $rest = pack('CCv', $type, 1, 0) . $fields;
    my $len = 8 + length($rest) + 4;
    return 'PMSP' . pack('V', $len) . pack('V', crc32($rest)) . $rest;
}

sub delivery {
    my ($json, $id) = @_;
    my @f = ('acme', 'https://hooks.example/postmark', $id, 'Bounce');
    return record(1, pack('VV', 1795000000, 0x1a2)
        . pack('vvvv', map { length } @f) . pack('V', length $json)
        . join('', @f) . $json);
}

sub done { record(2, pack('VV', $_[0], 0)) }

my @jsons = map { do { local (@ARGV, $/) = $_; <> } }
            glob("$root/examples/payloads/*.json");
my $segment = '';
my @offsets;
for my $i (0 .. $#jsons) {
    push @offsets, length $segment;
    $segment .= delivery($jsons[$i], "msg_$i");
}
seed($record, $segment);
seed($record, $segment . done($offsets[1]) . done($offsets[3]));
seed($record, substr($segment, 0, $offsets[2] + 57) . delivery('{}', 'x'));
(my $damaged = $segment) =~ s/Bounce/Bounc\x00/;
seed($record, $damaged);

# answers: the first byte sets the size of the pieces they arrive in
for my $text (
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello"
        . "\r\n0\r\nX-T: 1\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 5\r\n"
        . "Connection: close\r\nContent-Length: 4\r\n\r\nbusy",
    "HTTP/1.0 200 OK\nConnection: keep-alive\nContent-Length: 2\n\nokEXTRA",
    "HTTP/1.1 200 OK\r\n\r\nuntil close",
    "HTTP/1.1 200 OK\r\nContent-Le",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5"
        . "\r\n\r\n",
    "HTTP/2 200\r\n\r\n")
{
    seed($answer, chr($_) . $text) for 0, 3, 15;
}
