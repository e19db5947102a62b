#!/usr/bin/perl

# "make demo" keeps working: the demo runs on free ports, plays every
# sample event for every client, and reports what arrived where.

use strict;
use warnings;

use Test::More;

use PostmarkTest qw(repo_root);

my $t = PostmarkTest->new;
my $root = repo_root();

local $ENV{NGINX_BIN} = $t->bin;
local $ENV{MODULE_SO} = $t->{so};
local $ENV{DEMO_DIR} = $t->dir . '/demo';
local $ENV{DEMO_FREE_PORTS} = 1;
local $ENV{DEMO_EXIT} = 1;

my $out = `perl -I $root/t/lib $root/tools/demo.pl 2>&1`;
is($?, 0, 'the demo runs to the end') or diag $out;

my @rows = $out =~ /^  (?:acme|globex|initech) +\S+ +(\d{3}) /mg;
is(scalar @rows, 3 * 7, 'seven events for each of three clients');
like($out, qr/^  acme +bounce +200 forwarded: 1 destination/m,
     'acme bounce forwarded');
like($out, qr/^  acme +inbound +200 unmatched/m, 'acme has no inbound');
like($out, qr/^  initech +open +503 failed: 1 of 1 destination\(s\) failed/m,
     'initech is down: 503');
like($out, qr/^  acme +bounce, bad password +401 unauthorized/m,
     'a bad password is refused');
like($out, qr{/everything +7 event\(s\): Bounce, SpamComplaint, Delivery, Open, Click, SubscriptionChange, Inbound},
     "globex's catch-all got every event");
like($out, qr{/support +3 event\(s\): Bounce, SpamComplaint, SubscriptionChange},
     "acme's support desk got its three");
like($out, qr/forward to "http:\/\/127\.0\.0\.1:\d+\/hooks" failed/,
     'the demo shows the error log line of a failed forward');
like($out, qr/^  umbrella +bounce +200 spooled: on disk, nginx delivers it$/m,
     'umbrella\'s events are spooled while its endpoint is down');
like($out, qr/^  7 of 7 spooled event\(s\) arrived, each with the webhook-id Postmark was answered with$/m,
     'and delivered once it is back');

# the portals
like($out, qr{^  acme +GET /templates\?count=50&offset=0 +200 2 templates$}m,
     "acme's portal lists its templates");
like($out, qr{^  acme +POST /templates +200 template 1234}m,
     "acme's portal creates a template");
like($out, qr{^  globex +POST /templates +403 ErrorCode 9003}m,
     "globex's read-only portal may not");
like($out, qr{^  acme +POST /email/withTemplate +404 ErrorCode 9001}m,
     'sending email is refused');
like($out, qr{^  GET /templates\?Count=50&Offset=0 +with acme's server token}m,
     'Postmark received the canonical call with the real token');
like($out, qr{^  acme +GET /bounces\?count=10&offset=0 +200 1 bounces$}m,
     "acme's portal reads its bounces");
like($out, qr{^  acme +GET /deliveryStats +200 192 inactive addresses$}m,
     "and its delivery statistics");
like($out, qr{^  globex +GET /bounces\?count=10&offset=0 +403 ErrorCode 9011}m,
     "globex's portal was not given its activity");
like($out, qr{^  acme +GET /server +403 ErrorCode 9010}m,
     "the server's settings are never shown");
like($out, qr{^  GET /deliverystats +with acme's server token}m,
     'Postmark received the canonical path');
like($out, qr/refused by nginx never reached Postmark: 6 of 14/,
     'refused calls never reached Postmark');

done_testing;
