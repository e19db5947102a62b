#!/usr/bin/perl

# make soak: the receiver forwarding at half of what it can for 30 minutes
# (SOAK_MINUTES), to a direct and a spooled destination, and the worker's
# memory each minute: it must stay flat once warm.  Not part of CI.
#
#   TEST_NGINX_BINARY, TEST_NGINX_MODULE   what to run (set by "make soak")

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../t/lib";

use MIME::Base64 ();

use PostmarkTest qw(read_file);

my $minutes = $ENV{SOAK_MINUTES} || 30;

system('sh', '-c', 'command -v wrk >/dev/null') == 0
    or die "wrk is needed: apt-get install wrk\n";

my $dest = PostmarkTest->new(module => '', log_level => 'warn');
$dest->write_config(<<'CONF');
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 4096; }
http {
    %%TEST_GLOBALS_HTTP%%
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_8081%%;
        location = /hook { return 204; }
    }
}
CONF
$dest->run;
my $dport = $dest->port(8081);

my $t = PostmarkTest->new(log_level => 'warn');
$t->write_config(<<"CONF");
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 4096; }
http {
    %%TEST_GLOBALS_HTTP%%
    access_log off;
    postmark_spool %%TESTDIR%%/spool max_size=1g;

    postmark_client soak {
        webhook_user      soak;
        webhook_password  soak;
        forward http://127.0.0.1:$dport/hook { }
        forward http://127.0.0.1:$dport/hook?spooled { delivery spooled; }
    }

    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
CONF
$t->run;

my $url = 'http://127.0.0.1:' . $t->port(8080) . '/webhook';
my $auth = MIME::Base64::encode_base64('soak:soak', '');

# distinct events, "delay" ms apart on each connection
sub script {
    my ($delay) = @_;
    my $pace = $delay ? "delay = function() return $delay end\n" : '';
    return $t->write_file("soak-$delay.lua", <<"LUA" . $pace);
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $auth"
n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"RecordType":"Delivery","MessageID":"'
                                   .. n .. '-' .. math.random(1e9) .. '"}')
end
LUA
}

sub rss {
    my ($pid) = $t->worker_pids;
    my ($kb) = read_file("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m;
    return $kb;
}

# what it can do, then half of it: 8 connections, each pausing between
my $probe = script(0);
my ($full) = `wrk -t1 -c16 -d10s -s $probe $url` =~ /Requests\/sec:\s+([\d.]+)/;
die "wrk measured nothing\n" unless $full;
my $delay = int(8 * 1000 / ($full / 2)) || 1;
printf "capacity %.0f events/s; soaking at about %.0f for %d minutes\n\n",
       $full, $full / 2, $minutes;

my $paced = script($delay);
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    exec "wrk -t1 -c8 -d${minutes}m -s $paced $url >$t->{dir}/soak.out 2>&1";
}

print "| minute | worker RSS (KB) |\n|---:|---:|\n";
for my $m (0 .. $minutes) {
    printf "| %d | %d |\n", $m, rss();
    sleep 60 if $m < $minutes;
}

waitpid $pid, 0;
my $out = read_file("$t->{dir}/soak.out");
my ($n) = $out =~ /(\d+) requests in/;
my ($bad) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
printf "\n%d events, %d not answered 200\n", $n // 0, $bad // 0;

$t->stop;
$dest->stop;
