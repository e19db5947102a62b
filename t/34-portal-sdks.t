#!/usr/bin/perl

# The official SDKs, unmodified, read a client's activity through its
# portal: postmark.js from npm (pinned in t/sdk/package-lock.json) and
# Debian's ruby-postmark; and, at a location that has both, edit the
# client's templates and read its activity through the same client.  Each
# viewer's call works in the shape the SDK sends it and reaches Postmark
# canonical, with the client's real token; each call the portal refuses
# gives the SDK an error it understands, with the status and ErrorCode
# that say why, and never reaches Postmark.

use strict;
use warnings;

use Test::More;
use JSON::PP;

use PostmarkTest;
use PostmarkTest::PostmarkApi;
use PostmarkTest::Sdk;


my %token = (acme => 'acme-real-server-token-sdk',
             globex => 'globex-real-server-token-sdk',
             initech => 'initech-real-server-token-sdk',
             hooli => 'hooli-real-server-token-sdk');
my %key = (acme => 'acme-portal-key-for-activity',
           globex => 'globex-portal-key-for-activity',
           initech => 'initech-portal-key-for-activity',
           hooli => 'hooli-portal-key-for-both');

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
        activity      on;
        suppressions  on;
    }

    postmark_client globex {
        server_token  $token{globex};
        portal_key    $key{globex};
        activity      on;
    }

    postmark_client initech {
        server_token  $token{initech};
        portal_key    $key{initech};
    }

    # the whole portal at one location: templates to edit, and activity
    postmark_client hooli {
        server_token  $token{hooli};
        portal_key    $key{hooli};
        templates     full;
        activity      on;
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location /portal/acme/postmark/ { postmark_portal acme; }
        location /portal/globex/postmark/ { postmark_portal globex; }
        location /portal/initech/postmark/ { postmark_portal initech; }
        location /portal/hooli/postmark/ { postmark_portal hooli; }
    }
}
EOF

$t->run;

my $port = $t->port(8080);

sub node {
    my ($client, $key) = @_;
    return PostmarkTest::Sdk::node('activity.js', $port,
                                   "/portal/$client/postmark", $key);
}

sub ruby {
    my ($client, $key) = @_;
    return PostmarkTest::Sdk::ruby('activity.rb', $port,
                                   "/portal/$client/postmark/", $key);
}

my $MSG = '0ac29aee-e1cd-480d-b08d-4f48548ff48d';
my $IN = '73e6d360-66eb-11e1-8e72-a8904824019b';
my $BOUNCE = '4323372036854775807';
my $range = 'fromdate=2026-11-01&todate=2026-11-30';

# what each SDK call must become at Postmark ...
my %js_wire = (
    'getOutboundMessages' => '/messages/outbound?count=100&offset=0',
    'getOutboundMessages filtered' => '/messages/outbound?count=20&offset=40'
        . '&recipient=john%40example.com&fromemail=hello%40acme.example'
        . "&tag=welcome-email&status=sent&$range&subject=Welcome%20aboard"
        . '&messagestream=outbound&metadata_customer-id=42',
    'getOutboundMessageDetails' => "/messages/outbound/$MSG/details",
    'getOutboundMessageDump' => "/messages/outbound/$MSG/dump",
    'getMessageOpens' => '/messages/outbound/opens?count=10&offset=0'
        . '&client_name=Gmail&os_family=Android&platform=Mobile',
    'getMessageOpensForSingleMessage'
        => "/messages/outbound/opens/$MSG?count=50&offset=0",
    'getMessageClicks'
        => '/messages/outbound/clicks?count=100&offset=0&city=Novi%20Sad',
    'getMessageClicksForSingleMessage'
        => "/messages/outbound/clicks/$MSG?count=100&offset=0",
    'getInboundMessages' => '/messages/inbound?count=100&offset=0'
        . '&mailboxhash=abc&status=processed',
    'getInboundMessageDetails' => "/messages/inbound/$IN/details",
    'getDeliveryStatistics' => '/deliverystats',
    'getBounces' => '/bounces?count=100&offset=0&type=HardBounce'
        . '&inactive=true&emailFilter=example.com',
    'getBounces of a message'
        => "/bounces?count=100&offset=0&messageID=$MSG",
    'getBounce' => "/bounces/$BOUNCE",
    'getBounceDump' => "/bounces/$BOUNCE/dump",
    'getOutboundOverview' => "/stats/outbound?tag=welcome-email&$range"
        . '&messagestream=outbound',
    'getSentCounts' => "/stats/outbound/sends?$range",
    'getBounceCounts' => '/stats/outbound/bounces',
    'getSpamComplaintsCounts' => '/stats/outbound/spam',
    'getTrackedEmailCounts' => '/stats/outbound/tracked',
    'getEmailOpenCounts' => '/stats/outbound/opens',
    'getEmailOpenPlatformUsage' => '/stats/outbound/opens/platforms',
    'getEmailOpenClientUsage' => '/stats/outbound/opens/emailclients',
    'getEmailOpenReadTimes' => '/stats/outbound/opens/readtimes',
    'getClickCounts' => '/stats/outbound/clicks',
    'getClickBrowserUsage' => '/stats/outbound/clicks/browserfamilies',
    'getClickPlatformUsage' => '/stats/outbound/clicks/platforms',
    'getClickLocation' => '/stats/outbound/clicks/location',
    'getMessageStreams' => '/message-streams?MessageStreamType=Transactional'
        . '&IncludeArchivedStreams=true',
    'getMessageStream' => '/message-streams/outbound',
    'getSuppressions' => '/message-streams/outbound/suppressions/dump'
        . '?SuppressionReason=HardBounce&Origin=Recipient',
    'getOutboundMessageDetails of another server'
        => "/messages/outbound/$IN/details",
);

my %rb_wire = (
    'get_messages' => '/messages/outbound?count=30&offset=0',
    'get_messages filtered' => '/messages/outbound?count=20&offset=40'
        . '&recipient=john%40example.com&fromemail=hello%40acme.example'
        . "&tag=welcome-email&status=sent&$range",
    'get_messages_count' => '/messages/outbound?count=1&offset=0',
    'get_message' => "/messages/outbound/$MSG/details",
    'dump_message' => "/messages/outbound/$MSG/dump",
    'get_opens' => '/messages/outbound/opens?count=10&offset=0',
    'get_opens_by_message_id'
        => "/messages/outbound/opens/$MSG?count=30&offset=0",
    'get_clicks' => '/messages/outbound/clicks?count=30&offset=0',
    'get_clicks_by_message_id'
        => "/messages/outbound/clicks/$MSG?count=30&offset=0",
    'get_messages inbound'
        => '/messages/inbound?count=30&offset=0&mailboxhash=abc',
    'get_message inbound' => "/messages/inbound/$IN/details",
    'delivery_stats' => '/deliverystats',
    'get_bounces' => '/bounces?count=30&offset=0&type=HardBounce'
        . '&inactive=false',
    'get_bounces of a message'
        => "/bounces?count=30&offset=0&messageID=$MSG",
    'get_bounce' => "/bounces/$BOUNCE",
    'dump_bounce' => "/bounces/$BOUNCE/dump",
    'get_stats_totals'
        => '/stats/outbound?tag=welcome-email&fromdate=2026-11-01',
    'get_stats_counts sends' => '/stats/outbound/sends',
    'get_stats_counts bounces' => '/stats/outbound/bounces',
    'get_stats_counts spam'
        => "/stats/outbound/spam?$range&messagestream=outbound",
    'get_stats_counts tracked' => '/stats/outbound/tracked?tag=welcome-email',
    'get_stats_counts opens' => '/stats/outbound/opens',
    'get_stats_counts opens platforms' => '/stats/outbound/opens/platforms',
    'get_stats_counts opens emailclients'
        => '/stats/outbound/opens/emailclients',
    'get_stats_counts opens readtimes' => '/stats/outbound/opens/readtimes',
    'get_stats_counts clicks' => '/stats/outbound/clicks',
    'get_stats_counts clicks browserfamilies'
        => '/stats/outbound/clicks/browserfamilies',
    'get_stats_counts clicks platforms' => '/stats/outbound/clicks/platforms',
    'get_stats_counts clicks location' => '/stats/outbound/clicks/location',
    'get_message_streams' => '/message-streams',
    'get_message_stream' => '/message-streams/outbound',
    'dump_suppressions'
        => '/message-streams/outbound/suppressions/dump?count=30&offset=0',
    'get_bounce of another server' => '/bounces/692560173',
);

# ... Postmark's own refusals, which must reach the SDK as they were ...
my %postmark_says = (
    'getOutboundMessageDetails of another server' => [422, 701],
    'get_bounce of another server' => [422, 1001],
);

# ... and what the portal refuses: status and ErrorCode
my %js_refused = (
    getServer => [403, 9010], editServer => [403, 9010],
    getWebhooks => [403, 9010], getWebhook => [403, 9010],
    createWebhook => [403, 9010], editWebhook => [403, 9010],
    deleteWebhook => [403, 9010], activateBounce => [403, 9003],
    bypassBlockedInboundMessage => [403, 9003],
    retryInboundHookForMessage => [403, 9003],
    createSuppressions => [403, 9003], deleteSuppressions => [403, 9003],
    createMessageStream => [405, 9002], editMessageStream => [405, 9002],
    archiveMessageStream => [403, 9003],
    unarchiveMessageStream => [403, 9003], sendEmail => [404, 9001],
    "getOutboundMessages beyond Postmark's limits" => [422, 700],
);

my %rb_refused = (
    server_info => [403, 9010], update_server_info => [403, 9010],
    get_webhooks => [403, 9010], get_webhook => [403, 9010],
    create_webhook => [403, 9010], update_webhook => [403, 9010],
    delete_webhook => [403, 9010],
    activate_bounce => [403, 9003], create_suppressions => [403, 9003],
    delete_suppressions => [403, 9003],
    archive_message_stream => [403, 9003],
    unarchive_message_stream => [403, 9003], deliver => [404, 9001],
);

my %suppressions = map { $_ => 1 } qw(getSuppressions dump_suppressions);

sub check {
    my ($sdk_name, $client, $wire, $refused, @results) = @_;
    my $prefix = "$sdk_name, $client";

    is_deeply([sort map { $_->{call} } @results],
              [sort keys(%$wire), keys(%$refused)],
              "$prefix: every call ran") or diag explain \@results;

    my @expected;

    for my $r (@results) {
        my $name = "$prefix: $r->{call}";
        my $wanted = $wire->{ $r->{call} };
        my ($status, $code);

        # a portal without activity says so before it checks any value
        if (($wanted || $r->{call} =~ /limits/) && $client eq 'initech') {
            ($status, $code) = (403, 9011);
        } elsif ($wanted && $client eq 'globex'
                 && $suppressions{ $r->{call} })
        {
            ($status, $code) = (403, 9011);
        } elsif ($wanted) {
            push @expected, "GET $wanted";
            ($status, $code) = @{ $postmark_says{ $r->{call} } || [] };
        } else {
            ($status, $code) = @{ $refused->{ $r->{call} } };
        }

        if (!$status) {
            ok($r->{ok}, "$name: works") or diag explain $r;
            next;
        }

        ok(!$r->{ok} && ($r->{status} // 0) == $status
           && ($r->{code} // 0) == $code,
           "$name: an SDK error with status $status, ErrorCode $code")
            or diag explain $r;
    }

    my @got = map { my ($path, $query) = split /\?/, $_->{path}, 2;
                    $query = defined $query ? "?$query" : '';
                    "$_->{method} $path$query" } $api->requests;

    is_deeply([sort @got], [sort @expected],
              "$prefix: Postmark got exactly the allowed calls, canonical");

    ok(!grep({ ($_->{headers}{'x-postmark-server-token'} // '')
               ne $token{$client} } $api->requests),
       "$prefix: each with the client's real token");

    $api->clear;
}

for my $client (qw(acme globex initech)) {
    check('postmark.js', $client, \%js_wire, \%js_refused,
          node($client, $key{$client}));
    check('ruby-postmark', $client, \%rb_wire, \%rb_refused,
          ruby($client, $key{$client}));
}

# --- templates and activity at one location -------------------------------

# a client with "templates full" and "activity on": each SDK edits its
# templates and reads its activity through the same client object
my %both_js = (
    getTemplates => 'GET /templates?Count=100&Offset=0',
    getBounces => 'GET /bounces?count=100&offset=0',
    createTemplate => 'POST /templates',
    getDeliveryStatistics => 'GET /deliverystats',
    editTemplate => 'PUT /templates/welcome-v1',
    getOutboundOverview => 'GET /stats/outbound',
    deleteTemplate => 'DELETE /templates/5678',
    getOutboundMessageDetails => "GET /messages/outbound/$MSG/details",
    getTemplate => 'GET /templates/welcome-v1',
);
my %both_js_refused = (getServer => [403, 9010],
                       sendEmailWithTemplate => [404, 9001]);

my %both_rb = (
    get_templates => 'GET /templates?Count=30&Offset=0',
    get_bounces => 'GET /bounces?count=30&offset=0',
    create_template => 'POST /templates',
    delivery_stats => 'GET /deliverystats',
    update_template => 'PUT /templates/welcome-v1',
    get_stats_totals => 'GET /stats/outbound',
    delete_template => 'DELETE /templates/5678',
    get_message => "GET /messages/outbound/$MSG/details",
    get_template => 'GET /templates/welcome-v1',
);
my %both_rb_refused = (server_info => [403, 9010],
                       deliver_with_template => [404, 9001]);

sub both {
    my ($sdk_name, $wire, $refused, @results) = @_;
    my $prefix = "$sdk_name, templates and activity at one location";

    is_deeply([sort map { $_->{call} } @results],
              [sort keys(%$wire), keys(%$refused)], "$prefix: every call ran")
        or diag explain \@results;

    for my $r (@results) {
        my $name = "$prefix: $r->{call}";

        if ($wire->{ $r->{call} }) {
            ok($r->{ok}, "$name: works") or diag explain $r;
            next;
        }

        my ($status, $code) = @{ $refused->{ $r->{call} } };
        ok(!$r->{ok} && ($r->{status} // 0) == $status
           && ($r->{code} // 0) == $code,
           "$name: an SDK error with status $status, ErrorCode $code")
            or diag explain $r;
    }

    my @got = map { "$_->{method} $_->{path}" } $api->requests;
    is_deeply([sort @got], [sort values %$wire],
              "$prefix: Postmark got exactly the allowed calls, canonical");
    ok(!grep({ ($_->{headers}{'x-postmark-server-token'} // '')
               ne $token{hooli} } $api->requests),
       "$prefix: each with the client's real token");

    my ($create) = grep { $_->{method} eq 'POST' } $api->requests;
    is($create && decode_json($create->{body})->{Alias}, 'onboarding',
       "$prefix: the new template's JSON arrives as the SDK sent it");

    $api->clear;
}

both('postmark.js', \%both_js, \%both_js_refused,
     PostmarkTest::Sdk::node('portal.js', $port, '/portal/hooli/postmark',
                             $key{hooli}));
both('ruby-postmark', \%both_rb, \%both_rb_refused,
     PostmarkTest::Sdk::ruby('portal.rb', $port, '/portal/hooli/postmark/',
                             $key{hooli}));

# what the SDKs make of Postmark's answers
my ($bounces) = grep { $_->{call} eq 'getBounces' } node('acme', $key{acme});
is($bounces->{result}{Bounces}[0]{Type}, 'HardBounce',
   'postmark.js: the bounces, parsed') or diag explain $bounces;
my ($stats) = grep { $_->{call} eq 'delivery_stats' } ruby('acme', $key{acme});
is($stats->{result}{inactive_mails}, 192,
   'ruby-postmark: the delivery statistics, parsed') or diag explain $stats;
$api->clear;

# one client's key at another's portal: the SDK's own auth error
my ($wrong) = grep { $_->{call} eq 'getBounces' } node('acme', $key{globex});
is($wrong->{error}, 'InvalidAPIKeyError', 'postmark.js: another client\'s '
   . 'key is an InvalidAPIKeyError') or diag explain $wrong;
($wrong) = grep { $_->{call} eq 'get_bounces' } ruby('globex', $key{acme});
is($wrong->{error}, 'Postmark::InvalidApiKeyError', 'ruby-postmark: an '
   . 'InvalidApiKeyError') or diag explain $wrong;
is($api->count, 0, 'and nothing reached Postmark');

$t->finish;
