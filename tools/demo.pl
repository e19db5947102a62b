#!/usr/bin/perl

# make demo: runs nginx with examples/demo.conf and the module just built,
# starts a stand-in endpoint for every destination of that configuration,
# plays Postmark's sample events with each client's credentials, shows
# what arrived where, and keeps running until Ctrl-C.
#
#   NGINX_BIN, MODULE_SO   what to run (set by the Makefile)
#   DEMO_FREE_PORTS=1      use free ports instead of those in demo.conf
#   DEMO_EXIT=1            stop after showing the results (used by tests)

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

use JSON::PP;

use PostmarkTest qw(read_file repo_root wait_for free_port payload);
use PostmarkTest::PostmarkApi;
use PostmarkTest::Standin;

my $root = repo_root();
my $bin = $ENV{NGINX_BIN} || '/usr/sbin/nginx';
my $so = $ENV{MODULE_SO} // "$root/build/nginx-dev/ngx_http_postmark_module.so";
my $run = $ENV{DEMO_DIR} || "$root/build/demo";

# an empty MODULE_SO means a binary with the module built in
die "no module at $so; run make first\n" if $so ne '' && !-f $so;

# --- the configuration, as nginx will run it ----------------------------

my $conf = read_file("$root/examples/demo.conf");
$conf =~ s/^load_module\s+\S+;/$so ne '' ? "load_module $so;" : ''/me;

if ($ENV{DEMO_FREE_PORTS}) {
    my %map;
    $conf =~ s{127\.0\.0\.1:(\d+)}{'127.0.0.1:' . ($map{$1} //= free_port())}ge;
}

remove_tree($run);
make_path("$run/logs", "$run/tmp", "$run/secrets");
chmod 0755, $run;
system('cp', '-a', glob("$root/examples/secrets/*"), "$run/secrets/");

open my $fh, '>', "$run/nginx.conf" or die "$run/nginx.conf: $!";
print $fh $conf;
close $fh;

my ($port) = $conf =~ /listen\s+127\.0\.0\.1:(\d+);/;
my ($webhook) = $conf =~ /location\s*=\s*(\S+)\s*\{\s*[^}]*postmark_webhook;/;
my $url = "http://127.0.0.1:$port$webhook";

# a secret of a client block: inline, quoted, or file=path
sub secret {
    my ($block, $directive) = @_;
    my ($q, $bare) = $block =~ /\b$directive\s+(?:"([^"]*)"|(\S+));/
        or return undef;
    my $value = $q // $bare;
    if ($value =~ /^file=(.*)$/) {
        ($value = read_file("$run/$1")) =~ s/\s+$//;
    }
    return $value;
}

# clients, their credentials, and their destinations, in file order
my @clients;
while ($conf =~ /postmark_client\s+(\S+)\s*\{(.*?)\n    \}/sg) {
    my ($name, $block) = ($1, $2);
    my ($user) = $block =~ /webhook_user\s+(\S+);/;
    my @dests;
    while ($block =~ /((?:#[^\n]*\n\s*)*)forward\s+(\S+)/g) {
        my ($comment, $dest) = ($1, $2);
        push @dests, { url => $dest,
                       later => $comment =~ /demo: down at first/ ? 1 : 0,
                       down => $comment =~ /demo: down\b(?! at first)/ ? 1 : 0 };
    }
    push @clients, { name => $name, user => $user,
                     pass => secret($block, 'webhook_password'),
                     token => secret($block, 'server_token'),
                     key => secret($block, 'portal_key'),
                     dests => \@dests };
}

# where each client's portal calls Postmark's API
my %portal;
while ($conf =~ /location\s+(\S+)\s*\{[^}]*?postmark_portal\s+(\S+);/sg) {
    my ($prefix, $name) = ($1, $2);
    $portal{$name} = $prefix =~ s{/$}{}r;
}

my ($api_port) = $conf =~ /postmark_api_url\s+http:\/\/127\.0\.0\.1:(\d+)/;

# --- stand-ins, then nginx -------------------------------------------

my %standin;
for my $d (map { @{ $_->{dests} } } @clients) {
    my ($p) = $d->{url} =~ m{^http://127\.0\.0\.1:(\d+)/} or next;
    next if $d->{down} || $d->{later} || $standin{$p};
    $standin{$p} = PostmarkTest::Standin->new(dir => $run, name => "port-$p",
                                              port => $p);
}

my $api = PostmarkTest::Standin->new(
    dir => $run, name => 'postmark-api', port => $api_port,
    handler => PostmarkTest::PostmarkApi::handler(
        tokens => [map { $_->{token} // () } @clients]));

my @start = ($bin, '-p', "$run/", '-c', "$run/nginx.conf", '-g',
             'daemon off;' . ($> == 0 ? ' user root;' : ''));

my $nginx = fork // die "fork: $!";
if ($nginx == 0) {
    exec @start or die "exec $bin: $!";
}

sub shutdown_all {
    kill 'QUIT', $nginx if $nginx;
    waitpid $nginx, 0 if $nginx;
    $nginx = 0;
    $_->stop for values %standin, $api;
}

$SIG{INT} = $SIG{TERM} = sub { print "\nstopping\n"; shutdown_all(); exit 0 };

wait_for(sub {
    IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 1)
}, 10) or do {
    shutdown_all();
    die "nginx did not start:\n", read_file("$run/logs/error.log") =~ s/^/  /mgr;
};

# --- play the sample events -------------------------------------------

my @events = qw(bounce spam-complaint delivery open click
                subscription-change inbound);

print "\nngx_postmark_module demo\n\n",
      "  receiver    $url\n",
      "  running     $run/nginx.conf (from examples/demo.conf)\n",
      "  stand-ins   ", join(' ', map { "127.0.0.1:$_" } sort keys %standin),
      " (clients' endpoints), 127.0.0.1:$api_port (Postmark's API)\n\n",
      "  1. Postmark's sample events, with each client's webhook credentials\n\n";

printf "  %-8s %-20s %s\n", 'client', 'event', 'answer to Postmark';

# what an answer means, in a few words
sub summary {
    my ($r) = @_;
    return 'no answer' unless $r;
    my %a = $r->{body} =~ /"(\w+)":"?([^",}]*)/g;
    my $s = "$r->{status} $a{status}";
    return "$s: $a{destinations} destination(s)"
        if $a{status} eq 'forwarded';
    return "$s: on disk, nginx delivers it"
        if $a{status} eq 'spooled';
    return "$s: no destination wants this event"
        if $a{status} eq 'unmatched';
    return "$s: $a{failed} of $a{destinations} destination(s) failed, "
         . 'Postmark will retry' if $a{status} eq 'failed';
    return "$s: $a{message}";
}

my $t = bless { ports => { 8080 => $port } }, 'PostmarkTest';
my %spooled;

for my $c (@clients) {
    for my $e (@events) {
        my $r = $t->post($webhook, PostmarkTest::payload($e),
                         user => $c->{user}, password => $c->{pass});
        printf "  %-8s %-20s %s\n", $c->{name}, $e, summary($r);
        $spooled{$1} = $e
            if $r && $r->{body} =~ /"status":"spooled","webhook_id":"(\w+)"/;
    }
}

my $wrong = $t->post($webhook, PostmarkTest::payload('bounce'),
                     user => 'acme', password => 'not the password');
printf "  %-8s %-20s %s\n", 'acme', 'bounce, bad password', summary($wrong);

print "\n  what each destination received\n\n";

for my $c (@clients) {
    for my $d (@{ $c->{dests} }) {
        my ($p, $path) = $d->{url} =~ m{^http://127\.0\.0\.1:(\d+)(/\S*)};
        my @got = $standin{$p}
            ? grep { $_->{path} eq $path } $standin{$p}->requests : ();
        my @types = map { $_->{body} =~ /"RecordType":\s*"(\w+)"/ ? $1
                                                                  : 'Inbound' }
                    @got;
        printf "  %-8s %-38s %s\n", $c->{name}, $d->{url},
               $d->{down} ? 'down: nothing arrived, Postmark was told 503'
               : $d->{later} ? 'down: its events wait in the spool'
               : scalar(@got) . ' event(s): ' . join(', ', @types);
        if (@got) {
            my $h = $got[0]{headers};
            printf "  %-8s %-38s   webhook-id: %s, user-agent: %s%s\n", '',
                   '', $h->{'webhook-id'}, $h->{'user-agent'},
                   $h->{authorization}
                       ? ", authorization: $h->{authorization}" : '';
        }
    }
}

my @errors = grep { /\[error\]/ } split /\n/, read_file("$run/logs/error.log");
my ($failure) = grep { /forward to/ } reverse @errors;
if ($failure) {
    print "\n  error.log says, for each failed forward:\n\n  ",
          $failure =~ s/, client: .*//r =~ s/^\S+ \S+ //r, "\n";
}

# --- a spooled destination comes back -----------------------------------

for my $d (grep { $_->{later} } map { @{ $_->{dests} } } @clients) {
    my ($p) = $d->{url} =~ m{^http://127\.0\.0\.1:(\d+)/} or next;

    print "\n  $d->{url} comes back: nginx delivers from the spool\n\n";

    $standin{$p} = PostmarkTest::Standin->new(dir => $run, name => "port-$p",
                                              port => $p);
    wait_for(sub { $standin{$p}->count >= keys %spooled }, 30);

    my %got = map { ($_->{headers}{'webhook-id'} // '') => 1 }
              $standin{$p}->requests;
    my @arrived = grep { $got{$_} } sort keys %spooled;

    printf "  %d of %d spooled event(s) arrived, each with the webhook-id "
           . "Postmark was answered with\n", scalar @arrived,
           scalar keys %spooled;
}

# --- the portals ---------------------------------------------------------

print "\n  2. Each client's portal calls Postmark's API through nginx\n\n";
printf "  %-8s %-44s %s\n", 'portal', 'call', 'answer';

my %client = map { $_->{name} => $_ } @clients;
my $create = payload('template-create-request');

my @calls = (
    ['acme', 'GET', '/templates?count=50&offset=0', undef],
    ['acme', 'POST', '/templates', $create],
    ['acme', 'GET', '/templates/welcome-v1', undef],
    ['acme', 'GET', '/templates/not-acmes', undef],
    ['acme', 'GET', '/bounces?count=10&offset=0', undef],
    ['acme', 'GET', '/deliveryStats', undef],
    ['acme', 'GET', '/stats/outbound?fromdate=2026-11-01', undef],
    ['globex', 'GET', '/templates?Count=10&Offset=0', undef],
    ['globex', 'POST', '/templates', $create],
    ['globex', 'GET', '/bounces?count=10&offset=0', undef],
    ['acme', 'GET', '/server', undef],
    ['acme', 'POST', '/email/withTemplate', '{}'],
    ['acme', 'GET', '/templates/..%2Fserver', undef],
    ['acme', 'GET', '/templates', undef, 'a guessed key'],
);

for my $call (@calls) {
    my ($name, $method, $path, $body, $key) = @$call;
    my $r = $t->post($portal{$name} . $path, $body, method => $method,
                     headers => { 'X-Postmark-Server-Token'
                                      => $key // $client{$name}{key},
                                  defined $body
                                  ? ('Content-Type' => 'application/json')
                                  : () });
    my $j = eval { decode_json($r->{body}) } || {};
    my ($list) = grep { ref $j->{$_} eq 'ARRAY' } sort keys %$j;
    my $what = exists $j->{ErrorCode} && $j->{ErrorCode}
        ? "ErrorCode $j->{ErrorCode}: $j->{Message}"
        : exists $j->{TotalCount} ? "$j->{TotalCount} " . lc $list
        : exists $j->{TemplateId} ? "template $j->{TemplateId} \"$j->{Name}\""
        : exists $j->{InactiveMails} ? "$j->{InactiveMails} inactive addresses"
        : exists $j->{Sent} ? "$j->{Sent} sent, $j->{Bounced} bounced"
        : 'ok';
    printf "  %-8s %-44s %s %s\n", $name,
           "$method $path" . ($key ? " ($key)" : ''), $r->{status}, $what;
}

print "\n  what Postmark's API received\n\n";

my %whose = map { ($_->{token} // '') => $_->{name} } @clients;
for my $req ($api->requests) {
    my $token = $req->{headers}{'x-postmark-server-token'} // '';
    printf "  %-52s with %s's server token, not its portal key\n",
           "$req->{method} $req->{path}", $whose{$token} // '?';
}

print "\n  calls refused by nginx never reached Postmark: ",
      scalar(@calls) - scalar($api->requests), " of ", scalar @calls, "\n";

if ($ENV{DEMO_EXIT}) {
    shutdown_all();
    exit 0;
}

my ($acme) = grep { $_->{name} eq 'acme' } @clients;
print <<"EOF";

  Try it yourself:

    curl -u '$acme->{user}:$acme->{pass}' --data-binary \@examples/payloads/open.json \\
         $url
    curl -u '$acme->{user}:wrong' --data-binary \@examples/payloads/open.json \\
         $url
    curl -u '$acme->{user}:$acme->{pass}' --data-binary '[1,2]' $url
    curl -H 'X-Postmark-Server-Token: $acme->{key}' \\
         'http://127.0.0.1:$port$portal{acme}/templates?Count=10&Offset=0'
    curl -H 'X-Postmark-Server-Token: $acme->{key}' \\
         http://127.0.0.1:$port$portal{acme}/server
    curl -H 'Authorization: Bearer umbrella demo admin key' \\
         http://127.0.0.1:$port/postmark-admin/
    tail -f $run/logs/postmark.log $run/logs/portal.log $run/logs/error.log

  nginx and the stand-ins keep running; Ctrl-C stops them.
EOF

while (1) {
    sleep 1;
    if (waitpid($nginx, WNOHANG) == $nginx) {
        $nginx = 0;
        print "nginx exited\n";
        shutdown_all();
        exit 1;
    }
}
