#!/usr/bin/perl

# The metrics location: what all workers counted, in Prometheus's text
# format.  Four workers: every scrape, whichever worker answers it, shows
# the same totals, and nothing is in flight at rest.  Every series the
# configuration implies is there at zero from the start; promtool and the
# project's own rules accept every body.  Spooled backlogs show while a
# destination is down; a reload keeps the counters, bumps the generation,
# shows added destinations and drops removed ones, also when the zone has
# to grow; a worker killed mid-delivery leaves nothing in flight behind.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use File::Temp qw(tempfile);
use JSON::PP;

use PostmarkTest qw(wait_for);
use PostmarkTest::Spool qw(event);

my $t = PostmarkTest->new;
my $ok = $t->standin('ok');
my $down = $t->standin('down');

sub config {
    my (%o) = @_;
    my $extra = $o{extra} // '';
    my $include = $o{include} ? "include %%TESTDIR%%/many.conf;" : '';

    # a client and a destination named with what every format escapes
    my $odd = 'postmark_client "we\\"ird\\\\x<b>" { webhook_user odd; '
              . 'webhook_password secret; forward ' . $ok->url('/odd')
              . ' { name \'q"\\\\<i>\'; } }';
    return <<"EOF";
%%TEST_GLOBALS%%
worker_processes 4;
events { }
http {
    %%TEST_GLOBALS_HTTP%%

    postmark_spool %%TESTDIR%%/spool max_size=64m;

    postmark_client acme {
        webhook_user      acme;
        webhook_password  secret;
        forward ${\ $ok->url('/hook') } { name crm; }
        $extra
    }

    postmark_client beta {
        webhook_user      beta;
        webhook_password  secret;
        delivery          spooled;
        retry_backoff     100ms 300ms;
        circuit_breaker   5 200ms;
        forward ${\ $down->url('/beta') } { }
    }

    postmark_client gamma {
        webhook_user      gamma;
        webhook_password  secret;
        forward ${\ $ok->url('/gamma') } { }
    }

    $odd

    $include

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
        location = /metrics { postmark_metrics; }
    }
}
EOF
}

# name{labels} => value, and the families' types
sub scrape {
    my ($query) = @_;
    my $r = $t->post('/metrics' . ($query // ''), undef, method => 'GET');
    return undef unless $r && $r->{status} == 200;
    my (%v, %type);
    for (split /\n/, $r->{body}) {
        if (/^# TYPE (\S+) (\S+)$/) {
            $type{$1} = $2;
        } elsif (/^(\S+) (\S+)$/) {
            $v{$1} = $2;
        }
    }
    return { values => \%v, types => \%type, body => $r->{body},
             headers => $r->{headers} };
}

sub value {
    my ($m, $name, %l) = @_;
    my $want = join ',', map { (my $e = $l{$_}) =~ s/(["\\])/\\$1/g;
                               "$_=\"$e\"" } sort keys %l;
    for my $k (keys %{ $m->{values} }) {
        my ($n, $labels) = $k =~ /^([^{]+)(?:\{(.*)\})?$/;
        next unless $n eq $name;
        my $have = join ',', sort split /,(?=\w+=")/, $labels // '';
        return $m->{values}{$k} if $have eq $want;
    }
    return undef;
}

sub sum_of {
    my ($m, $name, %l) = @_;
    my $sum = 0;
    for my $k (keys %{ $m->{values} }) {
        next unless $k =~ /^\Q$name\E\{/;
        next if grep { $k !~ /\b$_="\Q$l{$_}\E"/ } keys %l;
        $sum += $m->{values}{$k};
    }
    return $sum;
}

# the JSON of the same location: valid by t/schema/status.json, and
# telling what the text tells
my $validator;

sub check_json {
    my ($m, $what) = @_;
    my $r = $t->post('/metrics?format=json', undef, method => 'GET');
    my $json = eval { decode_json($r->{body}) };
    ok($json, "$what: the JSON status answers") or return;

  SKIP: {
        skip 'JSON::Validator is not installed (make test installs it)', 1
            unless eval { require JSON::Validator; 1 };
        $validator //= JSON::Validator->new->schema(
            PostmarkTest::repo_root() . '/t/schema/status.json');
        my @errors = $validator->validate($json);
        is_deeply([map { "$_" } @errors], [],
                  "$what: the JSON is valid by t/schema/status.json");
    }

    my @differ;
    for my $c (keys %{ $json->{clients} }) {
        my $client = $json->{clients}{$c};
        for my $o (keys %{ $client->{requests} }) {
            my $v = value($m, 'nginx_postmark_webhook_requests_total',
                          client => $c, outcome => $o);
            push @differ, "$c $o" if ($v // -1) > $client->{requests}{$o};
        }
        for my $d (keys %{ $client->{destinations} }) {
            my $dest = $client->{destinations}{$d};
            for my $o (keys %{ $dest->{deliveries} }) {
                my $v = value($m, 'nginx_postmark_deliveries_total',
                              client => $c, destination => $d, outcome => $o);
                push @differ, "$c $d $o"
                    if !defined $v || $v > $dest->{deliveries}{$o};
            }
        }
    }
    is_deeply(\@differ, [], "$what: the JSON has what the text has");
    return $json;
}

# the text format's rules, and the project's own
sub check_body {
    my ($m, $what) = @_;
    my @problems;
    my %seen;

    for (split /\n/, $m->{body}) {
        next unless /^# TYPE (\S+) (\S+)$/;
        push @problems, "family $1 twice" if $seen{$1}++;
        push @problems, "counter $1 without _total"
            if $2 eq 'counter' && $1 !~ /_total$/;
    }

    my %series;
    for my $k (keys %{ $m->{values} }) {
        push @problems, "series $k twice" if $series{$k}++;
    }

    # histograms: cumulative buckets, +Inf equal to _count
    for my $k (grep { /_bucket\{.*le="\+Inf"/ } keys %{ $m->{values} }) {
        (my $count = $k) =~ s/_bucket\{(.*),le="\+Inf"\}/_count{$1}/;
        push @problems, "$k is not $count"
            unless ($m->{values}{$count} // -1) == $m->{values}{$k};
        (my $base = $k) =~ s/,le="\+Inf"\}//;
        my @b = map { $m->{values}{$_} }
                sort { ($a =~ /le="([^"]+)"/)[0] <=> ($b =~ /le="([^"]+)"/)[0] }
                grep { index($_, "$base,le=") == 0 && !/\+Inf/ }
                keys %{ $m->{values} };
        for my $i (1 .. $#b) {
            push @problems, "$base not cumulative" if $b[$i] < $b[$i - 1];
        }
    }

    # one state per breaker
    my %states;
    for my $k (grep { /^nginx_postmark_circuit_breaker_state\{/ }
               keys %{ $m->{values} })
    {
        (my $who = $k) =~ s/,state="[^"]*"//;
        $states{$who} += $m->{values}{$k};
    }
    push @problems, "$_ has not one state" for grep { $states{$_} != 1 }
                                               keys %states;

    is_deeply(\@problems, [], "$what: the project's rules hold")
        or diag join "\n", @problems;

  SKIP: {
        my ($promtool) = grep { -x } map { "$_/promtool" }
                         split /:/, $ENV{PATH};
        skip 'promtool is not installed (make deps installs it)', 1
            unless $promtool;
        my ($fh, $file) = tempfile();
        print $fh $m->{body};
        close $fh;
        my $out = `$promtool check metrics < $file 2>&1`;
        is($? >> 8, 0, "$what: promtool check metrics accepts it")
            or diag $out;
        unlink $file;
    }

    check_json($m, $what);
}

# a reload is done once no worker of the configuration before is left
sub reload {
    my ($conf) = @_;
    my %old = map { $_ => 1 } $t->worker_pids;
    $t->write_config($conf);
    $t->reload;
    wait_for(sub { !grep { $old{$_} } $t->worker_pids }, 20)
        or diag 'workers of the old configuration are still there';
}

$t->write_config(config());
$t->run;

# --- from the start, every series at zero --------------------------------

my $m = scrape();
ok($m, 'the metrics location answers');
like($m->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'in the text format 0.0.4');
is(value($m, 'nginx_postmark_webhook_requests_total',
         client => 'gamma', outcome => 'forwarded'), 0,
   'a client without traffic has its series at zero');
is(value($m, 'nginx_postmark_deliveries_total', client => 'acme',
         destination => 'crm', outcome => 'delivered'), 0,
   'a destination is labelled by its name');
is(value($m, 'nginx_postmark_deliveries_total', client => 'gamma',
         destination => '127.0.0.1:' . $ok->{port}, outcome => 'delivered'),
   0, 'one without a name by its host and port');
ok(!grep({ /\/hook|\/beta|\/gamma/ } keys %{ $m->{values} }),
   'no URL path is in any label');
check_body($m, 'at rest');

# names with a quote, a backslash and markup, escaped as the format says
like($m->{body}, qr/^nginx_postmark_deliveries_total\{client="we\\"ird\\\\x<b>",destination="q\\"\\\\<i>",outcome="delivered"\} 0$/m,
     'a name with " and \\ is escaped in its label');
{
    my $only = scrape('?client=we%22ird%5Cx%3Cb%3E');
    my @clients = keys %{{ map { /client="((?:[^"\\]|\\.)*)"/ ? ($1 => 1) : () }
                           keys %{ $only->{values} } }};
    is_deeply(\@clients, ['we\\"ird\\\\x<b>'],
              '?client= takes such a name percent-encoded');
    my $json = decode_json($t->post('/metrics?format=json', undef,
                                    method => 'GET')->{body});
    ok($json->{clients}{'we"ird\\x<b>'}{destinations}{'q"\\<i>'},
       'the JSON keys them by their names');
}

# --- four workers, one truth -------------------------------------------

my $n = 40;
my $accepted = 0;
for my $i (1 .. $n) {
    my $r = $t->post('/webhook', event($i), user => 'acme',
                     password => 'secret');
    $accepted++ if $r && $r->{status} == 200;
}
is($accepted, $n, "$n events acknowledged");
$t->post('/webhook', event(1), user => 'acme', password => 'wrong');
$t->post('/webhook', event(1), user => 'acme', password => 'secret',
         method => 'PUT');

my (%totals, $busy);
for my $k (1 .. 12) {
    $m = scrape();
    $totals{join ' ',
        value($m, 'nginx_postmark_webhook_requests_total',
              client => 'acme', outcome => 'forwarded'),
        value($m, 'nginx_postmark_deliveries_total', client => 'acme',
              destination => 'crm', outcome => 'delivered'),
        value($m, 'nginx_postmark_delivery_attempts_total', client => 'acme',
              destination => 'crm', result => '2xx'),
        value($m, 'nginx_postmark_delivery_attempt_duration_seconds_count',
              client => 'acme', destination => 'crm'),
        value($m, 'nginx_postmark_webhook_rejected_total',
              reason => 'unauthorized'),
        value($m, 'nginx_postmark_webhook_rejected_total',
              reason => 'method_not_allowed')}++;
    $busy += sum_of($m, 'nginx_postmark_in_flight_deliveries');
}
is_deeply([keys %totals], ["$n $n $n $n 1 1"],
          'every scrape, whichever worker answers, shows the same totals')
    or diag explain \%totals;
is($busy, 0, 'nothing is in flight at rest');
is(value($m, 'nginx_postmark_events_total', client => 'acme',
         record_type => 'Delivery'), $n, 'events are counted by RecordType');
cmp_ok(value($m, 'nginx_postmark_sent_bytes_total', client => 'acme',
             destination => 'crm'), '>', 0, 'and the bytes sent');
check_body($m, 'after traffic');

# the lite level: what alerts need, a fraction of the series
{
    my $lite = scrape('?level=lite');
    check_body($lite, 'lite');
    my %has = map { $_ => 1 } keys %{ $lite->{types} };
    ok($has{nginx_postmark_deliveries_total}
       && $has{nginx_postmark_pending_deliveries}
       && $has{nginx_postmark_oldest_pending_age_seconds}
       && $has{nginx_postmark_circuit_breaker_state}
       && $has{nginx_postmark_webhook_requests_total},
       'lite: deliveries, backlog, its age, breakers and requests are there');
    ok(!$has{nginx_postmark_delivery_attempt_duration_seconds}
       && !$has{nginx_postmark_delivery_attempts_total},
       'lite: histograms and attempts by result are not');
    my $full = keys %{ $m->{values} };
    my $few = keys %{ $lite->{values} };
    cmp_ok($few, '<', $full / 2, "lite: $few series instead of $full");
    is(value($lite, 'nginx_postmark_deliveries_total', client => 'acme',
             destination => 'crm', outcome => 'delivered'),
       value($m, 'nginx_postmark_deliveries_total', client => 'acme',
             destination => 'crm', outcome => 'delivered'),
       'lite: with the same values');
    my $r = $t->post('/metrics?level=heavy', undef, method => 'GET');
    is($r->{status}, 400, 'an unknown level is refused');
    like($r->{body}, qr/level= takes lite/, '... saying what it takes');
}

# --- a spooled backlog, while its destination is down -------------------

$down->stop;
my $backlog_since = time;
for my $i (1 .. 10) {
    $t->post('/webhook', event(100 + $i), user => 'beta',
             password => 'secret');
}
my $beta = '127.0.0.1:' . $down->{port};
ok(wait_for(sub {
       $m = scrape();
       sum_of($m, 'nginx_postmark_pending_deliveries', client => 'beta') == 10
       && value($m, 'nginx_postmark_delivery_retries_total',
                client => 'beta', destination => $beta) > 0 }, 10),
   'the backlog of a destination that is down shows, with its retries');
cmp_ok(value($m, 'nginx_postmark_delivery_attempts_total', client => 'beta',
             destination => $beta, result => 'connect_error'), '>', 0,
       'its attempts fail to connect');
is(value($m, 'nginx_postmark_webhook_requests_total', client => 'beta',
         outcome => 'spooled'), 10, 'its events were spooled');

# the walk that finds the oldest runs every second or so
ok(wait_for(sub {
       $m = scrape();
       value($m, 'nginx_postmark_oldest_pending_age_seconds',
             client => 'beta', destination => $beta) >= 3 }, 10),
   'the age of its oldest pending delivery grows');
cmp_ok(value($m, 'nginx_postmark_oldest_pending_age_seconds',
             client => 'beta', destination => $beta), '<=',
       time - $backlog_since + 1, 'and is no older than the backlog');

$down->start;
ok(wait_for(sub {
       $m = scrape();
       sum_of($m, 'nginx_postmark_pending_deliveries', client => 'beta') == 0
       && value($m, 'nginx_postmark_deliveries_total', client => 'beta',
                destination => $beta, outcome => 'delivered') == 10 }, 20),
   'once it is back the backlog empties and every event is delivered');
ok(wait_for(sub {
       value(scrape(), 'nginx_postmark_oldest_pending_age_seconds',
             client => 'beta', destination => $beta) == 0 }, 10),
   'and nothing pending is old any more');

# --- a reload keeps the counters ------------------------------------------

my $before = scrape();
reload(config(extra => "forward ${\ $ok->url('/more') } { name more; }"));
$m = scrape();
cmp_ok(value($m, 'nginx_postmark_config_generation'), '>',
       value($before, 'nginx_postmark_config_generation'),
       'a reload bumps the generation');
is(value($m, 'nginx_postmark_deliveries_total', client => 'acme',
         destination => 'crm', outcome => 'delivered'), $n,
   'and keeps the counters');
is(value($m, 'nginx_postmark_deliveries_total', client => 'acme',
         destination => 'more', outcome => 'delivered'), 0,
   'an added destination appears at zero');
check_body($m, 'after a reload');

reload(config());
$m = scrape();
ok(!defined value($m, 'nginx_postmark_deliveries_total', client => 'acme',
                  destination => 'more', outcome => 'delivered'),
   'a removed destination disappears');

# a configuration too large for the zone gets a larger one, with the counts
$t->write_file('many.conf', join '', map {
    "postmark_client c$_ { webhook_user u$_; webhook_password p$_; "
    . "forward ${\ $ok->url(\"/c$_\") } { } }\n" } 1 .. 150);
my $size = value($m, 'nginx_postmark_zone_size_bytes');
reload(config(include => 1));
$m = scrape();
cmp_ok(value($m, 'nginx_postmark_zone_size_bytes'), '>', $size,
       'many more clients: a larger zone');
is(value($m, 'nginx_postmark_deliveries_total', client => 'acme',
         destination => 'crm', outcome => 'delivered'), $n,
   'which kept the counters');
is(value($m, 'nginx_postmark_webhook_requests_total', client => 'c150',
         outcome => 'forwarded'), 0, 'and has the new clients at zero');
my $one = scrape('?client=c150');
ok($one && !grep({ /client="(?!c150")/ } keys %{ $one->{values} }),
   '?client= shows that client only');
my $j = decode_json($t->post('/metrics?format=json&client=c150', undef,
                             method => 'GET')->{body});
is_deeply([keys %{ $j->{clients} }], ['c150'], 'in the JSON too');
check_body($m, 'in a larger zone');

# --- a worker killed mid-delivery ---------------------------------------

$ok->set_mode(delay => 4);
my @held = map { $t->send_request('/webhook', event(500 + $_),
                                  user => 'acme', password => 'secret') }
           1 .. 4;
ok(wait_for(sub {
       value(scrape(), 'nginx_postmark_in_flight_deliveries',
             client => 'acme', destination => 'crm') > 0 }, 5),
   'deliveries under way show as in flight');
my %old = map { $_ => 1 } $t->worker_pids;
kill 'KILL', keys %old;
ok(wait_for(sub { (grep { !$old{$_} } $t->worker_pids) == 4 }, 10),
   'the killed workers are replaced');
ok(wait_for(sub {
       my $s = scrape();
       $s && value($s, 'nginx_postmark_in_flight_deliveries',
                   client => 'acme', destination => 'crm') == 0 }, 5),
   'and what they had in flight is not left behind');
close $_ for grep { $_ } @held;
$ok->set_mode;

# --- nginx -t, in a directory of its own ------------------------------------

my $c = PostmarkTest->new;

my @bad = (
    [ 'with a webhook', 'location = /m { postmark_webhook; postmark_metrics; }',
      qr/"postmark_metrics" directive cannot share a location/ ],
    [ 'twice', 'location = /m { postmark_metrics; postmark_metrics; }',
      qr/"postmark_metrics" directive is duplicate/ ],
);
for my $case (@bad) {
    my ($rc, $out) = $c->config_test(<<"EOF", 'bad.conf');
%%TEST_GLOBALS%%
events { }
http {
    postmark_client a { webhook_user a; webhook_password b;
        forward http://127.0.0.1:1/ { } }
    server { listen 127.0.0.1:%%PORT_9000%%; $case->[1] }
}
EOF
    isnt($rc, 0, "postmark_metrics $case->[0] is refused");
    like($out, $case->[2], '... with what to write instead');
    like($out, qr/bad\.conf:\d+/, '... and where');
}

my @names = (
    [ 'a name taken twice',
      'forward http://127.0.0.1:1/a { name x; } '
      . 'forward http://127.0.0.1:1/b { name x; }',
      qr/forward name "x" is already taken by another forward of postmark client "a"/ ],
    [ 'a name with a slash', 'forward http://127.0.0.1:1/a { name a/b; }',
      qr/invalid forward name "a\/b"/ ],
);
for my $case (@names) {
    my ($rc, $out) = $c->config_test(<<"EOF", 'bad.conf');
%%TEST_GLOBALS%%
events { }
http {
    postmark_client a { webhook_user a; webhook_password b; $case->[1] }
}
EOF
    isnt($rc, 0, "$case->[0] is refused");
    like($out, $case->[2], '... saying why');
}

my ($rc, $out) = $c->config_test(<<"EOF", 'twohosts.conf');
%%TEST_GLOBALS%%
events { }
http {
    postmark_client a { webhook_user a; webhook_password b;
        forward http://127.0.0.1:1/a { } forward http://127.0.0.1:1/b { } }
}
EOF
is($rc, 0, 'two forwards to one host need no names: the second is "host-2"')
    or diag $out;

# --- the Grafana dashboard and the alerting rules in examples/ -----------

# every metric they name is served, and every expression is PromQL that
# promtool accepts (the dashboard's variables set as Grafana would)
{
    my $families = scrape()->{types};
    my $json = JSON::PP->new;
    my $board = $json->decode(PostmarkTest::read_file(
                    PostmarkTest::repo_root()
                    . '/examples/grafana-dashboard.json'));
    my $rules = PostmarkTest::read_file(PostmarkTest::repo_root()
                                        . '/examples/prometheus-alerts.yml');
    my @exprs = map { $_->{expr} } map { @{ $_->{targets} } }
                @{ $board->{panels} };
    push @exprs, map { $_->{expr} } @{ $board->{annotations}{list} };
    ok(@exprs >= 10, scalar(@exprs) . ' expressions in the dashboard');

    my %named;
    $named{$_} = 1 for map { /\b(nginx_postmark_\w+)/g } @exprs, $rules;
    my @unknown = grep {
        (my $f = $_) =~ s/_(bucket|sum|count)$// if !$families->{$_};
        !$families->{$_} && !$families->{$f}
    } sort keys %named;
    ok(keys(%named) >= 10 && !@unknown, keys(%named) . ' metrics named '
       . 'by the dashboard and the alerts, all served')
        or diag "not served: @unknown";

    my $file = $t->dir . '/dashboard-rules.yml';
    open my $fh, '>', $file or die "$file: $!";
    print $fh "groups:\n  - name: dashboard\n    rules:\n";
    for my $i (0 .. $#exprs) {
        (my $e = $exprs[$i]) =~ s/\$__rate_interval/5m/g;
        $e =~ s/\$client/.*/g;
        $e =~ s/'/''/g;
        print $fh "      - record: panel_$i\n        expr: '$e'\n";
    }
    close $fh;

    for ([ 'the dashboard', $file ],
         [ 'the alerting rules', PostmarkTest::repo_root()
                                 . '/examples/prometheus-alerts.yml' ])
    {
        my $out = `promtool check rules $_->[1] 2>&1`;
        is($? >> 8, 0, "$_->[0]: promtool check rules accepts it")
            or diag $out;
    }
}

$t->finish(allow => qr/exited on signal 9/);
