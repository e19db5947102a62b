#!/usr/bin/perl

# The status page in a real browser: Debian's Chromium, driven by
# playwright-core, loads it from the test nginx.  No console errors (its
# Content-Security-Policy lets in nothing but its own style and script);
# a row per destination after the first poll; a destination whose breaker
# opens turns "open", first in the list and in the problems; rates are
# never negative across a reload; data is text, never markup.  The test
# saves a screenshot in build/status-page.png.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);

use PostmarkTest qw(wait_for repo_root);
use PostmarkTest::Spool qw(event);

my $sdk = $ENV{TEST_SDK_DIR} || repo_root() . '/build/sdk';
BAIL_OUT("no playwright-core in $sdk; run \"make sdk\"")
    unless -f "$sdk/node_modules/playwright-core/package.json";
BAIL_OUT('no /usr/bin/chromium; "make test" installs it')
    unless -x '/usr/bin/chromium';

my $t = PostmarkTest->new;
my $ok = $t->standin('ok');
my $down = $t->standin('down');

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
        forward ${\ $ok->url('/hook') } { name crm; }
    }

    postmark_client "<b>bold<b>&amp;" {
        webhook_user      odd;
        webhook_password  secret;
        forward ${\ $ok->url('/odd') } { name <img>; }
    }

    postmark_client beta {
        webhook_user      beta;
        webhook_password  secret;
        delivery          spooled;
        retry_backoff     100ms 200ms;
        circuit_breaker   2 30s;
        forward ${\ $down->url('/beta') } { name helpdesk; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location = /status { postmark_metrics; }
    }
}
EOF
$t->run;

my $url = 'http://127.0.0.1:' . $t->port(8080) . '/status?format=html';

# the command that shows the page, for a screenshot and some seconds more
sub browse {
    my ($shot, $watch) = @_;
    return "NODE_PATH=$sdk/node_modules node " . repo_root()
           . '/t/sdk/status-page.js '
           . join(' ', $url, $shot // '""', $watch // 0) . ' 2>&1';
}

sub page {
    my $out = `${\ browse(@_) }`;
    my ($line) = grep { /^\{/ } split /\n/, $out;
    my $seen = eval { decode_json($line // '') };
    diag $out unless $seen && !$seen->{fatal};
    return $seen || {};
}

# --- the page's own answer -------------------------------------------

my $r = $t->post('/status?format=html', undef, method => 'GET');
is($r->{status}, 200, 'the page is served');
like($r->{headers}{'content-type'}, qr{^text/html}, 'as HTML');
my $csp = $r->{headers}{'content-security-policy'} // '';
like($csp, qr/default-src 'none'/, 'with a Content-Security-Policy that '
     . 'allows nothing by default');
like($csp, qr/script-src 'sha256-[A-Za-z0-9+\/=]+'/,
     'its script by its digest');
unlike($csp, qr/unsafe-inline|unsafe-eval|https?:/,
       'nothing inline but that, and no other origin');
unlike($r->{body}, qr/<(?:script|link|img)[^>]+(?:src|href)=/i,
       'no asset from elsewhere');
is($t->post('/status?format=xml', undef, method => 'GET')->{status}, 400,
   'a format it does not have is refused');

# --- first look -------------------------------------------------------------

$t->post('/webhook', event($_), user => 'acme', password => 'secret')
    for 1 .. 5;

my $seen = page();
is_deeply($seen->{errors}, [], 'no console errors in Chromium');
is(scalar @{ $seen->{rows} || [] }, 3, 'a row per destination');
like($seen->{updated} // '', qr/^updated/, 'the poll worked');
is($seen->{markup}, 0, 'data is text: no element but rows and cells');
is_deeply([sort map { $_->[1] } @{ $seen->{rows} }],
          ['<img>', qw(crm helpdesk)], 'destinations go by their names');
ok((grep { $_->[0] eq '<b>bold<b>&amp;' } @{ $seen->{clients} }),
   'a client name holding markup shows as its text');

# --- a destination that fails -------------------------------------------

$down->stop;
$t->post('/webhook', event(100 + $_), user => 'beta', password => 'secret')
    for 1 .. 3;
ok(wait_for(sub {
       my $s = decode_json($t->post('/status?format=json', undef,
                                    method => 'GET')->{body});
       $s->{clients}{beta}{destinations}{helpdesk}{circuit_breaker} eq 'open'
   }, 10), 'its breaker opens');

$seen = page(repo_root() . '/build/status-page.png');
is($seen->{rows}[0][1], 'helpdesk', 'the unhealthy destination comes first');
is($seen->{rows}[0][4], 'open', 'with its breaker "open"');
ok((grep { /beta \/ helpdesk: breaker open/ } @{ $seen->{problems} }),
   'and it leads the problems');
is_deeply($seen->{errors}, [], 'still no console errors');
my $png = PostmarkTest::read_file(repo_root() . '/build/status-page.png');
is(substr($png, 0, 8), "\x89PNG\r\n\x1a\n", 'a screenshot is saved');

# --- across a reload ------------------------------------------------------

open my $watch, '-|', browse(undef, 6) or die "node: $!";
sleep 2;
$t->post('/webhook', event(200 + $_), user => 'acme', password => 'secret')
    for 1 .. 5;
$t->reload;
my @out = <$watch>;
close $watch;
my ($line) = grep { /^\{/ } @out;
$seen = eval { decode_json($line) } || {};
diag @out unless $seen->{rows};
is_deeply($seen->{negative}, [], 'no rate goes negative across a reload');
is_deeply($seen->{errors}, [], 'and no console errors');

$down->start;
$t->finish;
