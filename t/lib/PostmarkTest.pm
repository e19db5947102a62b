package PostmarkTest;

# A small harness in the spirit of nginx-tests' Test::Nginx, with core Perl
# only: each test file gets a temporary prefix, a generated nginx.conf with
# the module loaded, free ports, and helpers to talk HTTP and read logs.
#
#   TEST_NGINX_BINARY   nginx to run (default /usr/sbin/nginx)
#   TEST_NGINX_MODULE   the .so to load; empty when the module is built in
#   TEST_NGINX_LEAVE    keep the temporary directory

use strict;
use warnings;

use Exporter qw(import);
use File::Temp qw(tempdir);
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use IO::Socket::INET;
use IO::Select;
use POSIX qw(WNOHANG);
use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(free_port wait_for read_file payload repo_root
                    run_unit fork_server stop_server blackhole
                    blackhole_paths);

my $ROOT = abs_path(dirname(__FILE__) . '/../..');

sub repo_root { $ROOT }

sub new {
    my ($class, %opt) = @_;

    my $bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    my $so = exists $opt{module} ? $opt{module}
           : exists $ENV{TEST_NGINX_MODULE} ? $ENV{TEST_NGINX_MODULE}
           : "$ROOT/build/nginx-dev/ngx_http_postmark_module.so";

    BAIL_OUT("no nginx binary at $bin") unless -x $bin;
    BAIL_OUT("no module at $so; run 'make' first") if $so ne '' && !-f $so;

    my $dir = tempdir('postmark-test-XXXXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TEST_NGINX_LEAVE});

    # workers run as "nobody" unless told otherwise, and must reach this
    chmod 0755, $dir;
    mkdir "$dir/$_" for qw(logs tmp);

    my $self = bless { bin => $bin, so => $so, dir => $dir, ports => {},
                       pid => undef, servers => [],
                       log_level => $opt{log_level} // 'debug' }, $class;
    return $self;
}

sub dir { $_[0]{dir} }
sub bin { $_[0]{bin} }

sub port {
    my ($self, $n) = @_;
    return $self->{ports}{$n} //= free_port();
}

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "cannot bind: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

sub globals {
    my ($self) = @_;
    my $g = '';
    $g .= "load_module $self->{so};\n" if $self->{so} ne '';
    $g .= "user root;\n" if $> == 0;
    $g .= "daemon off;\n";
    $g .= "pid $self->{dir}/logs/nginx.pid;\n";
    $g .= "error_log $self->{dir}/logs/error.log $self->{log_level};\n";
    return $g;
}

sub globals_http {
    my ($self) = @_;
    my $d = $self->{dir};
    return join '', map { "$_\n" }
        "access_log $d/logs/access.log;",
        "client_body_temp_path $d/tmp/body;",
        "proxy_temp_path $d/tmp/proxy;",
        "fastcgi_temp_path $d/tmp/fastcgi;",
        "uwsgi_temp_path $d/tmp/uwsgi;",
        "scgi_temp_path $d/tmp/scgi;";
}

sub expand {
    my ($self, $text) = @_;
    my $g = $self->globals;
    my $h = $self->globals_http;
    $text =~ s/%%TEST_GLOBALS%%/$g/g;
    $text =~ s/%%TEST_GLOBALS_HTTP%%/$h/g;
    $text =~ s/%%TESTDIR%%/$self->{dir}/g;
    $text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    return $text;
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    my $parent = dirname($path);
    system('mkdir', '-p', $parent) unless -d $parent;
    open my $fh, '>', $path or die "$path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    return $path;
}

sub write_config {
    my ($self, $conf, $name) = @_;
    return $self->write_file($name // 'nginx.conf', $self->expand($conf));
}

# nginx -t on a configuration; returns (exit code, what nginx printed)
sub config_test {
    my ($self, $conf, $name) = @_;
    my $file = $self->write_config($conf, $name // 'test.conf');
    return $self->nginx_t($file, $self->{dir});
}

sub nginx_t {
    my ($self, $file, $prefix) = @_;

    # "nginx -t" returns from main() without freeing its configuration,
    # which LeakSanitizer would report; leaks are checked on real runs
    local $ENV{ASAN_OPTIONS} = join ':', grep { $_ }
        $ENV{ASAN_OPTIONS}, 'detect_leaks=0';

    my $out = `$self->{bin} -t -q -p $prefix/ -c $file 2>&1`;
    return ($? >> 8, $out);
}

sub run {
    my ($self) = @_;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDERR, '>>', "$self->{dir}/logs/stderr.log" or die $!;
        open STDOUT, '>&', \*STDERR;
        { exec $self->{bin}, '-p', "$self->{dir}/", '-c',
             "$self->{dir}/nginx.conf" }
        POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    my $conf = read_file("$self->{dir}/nginx.conf");
    my @ports = $conf =~ /listen\s+127\.0\.0\.1:(\d+)/g;

    for my $port (@ports) {
        wait_for(sub { _can_connect($port) }, 10)
            or die "nginx did not listen on $port:\n" . $self->diagnostics;
    }

    wait_for(sub { $self->worker_pids > 0 }, 10)
        or die "nginx started no worker:\n" . $self->diagnostics;

    return $self;
}

sub diagnostics {
    my ($self) = @_;
    my $out = '';
    for my $f (qw(stderr.log error.log)) {
        my $p = "$self->{dir}/logs/$f";
        next unless -f $p;
        my @lines = grep { !/\[debug\]/ } split /\n/, read_file($p);
        @lines = @lines[-40 .. -1] if @lines > 40;
        $out .= "--- $f\n" . join("\n", @lines) . "\n";
    }
    return $out;
}

sub _can_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub master_pid { $_[0]{pid} }

sub worker_pids {
    my ($self) = @_;
    return () unless $self->{pid};
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        close $fh;
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S (\d+)/ or next;
        push @pids, $pid if $ppid == $self->{pid};
    }
    return @pids;
}

# HUP, then wait until the master has started workers of the new generation
sub reload {
    my ($self) = @_;
    my %old = map { $_ => 1 } $self->worker_pids;
    kill 'HUP', $self->{pid};
    wait_for(sub { grep { !$old{$_} } $self->worker_pids }, 10)
        or die "no new worker after reload:\n" . $self->diagnostics;
    return $self;
}

# graceful stop: QUIT, as an operator would; KILL only if it hangs.  The
# exit status is kept for finish(), which checks it.
sub stop {
    my ($self, $timeout) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'QUIT', $pid;
    my $deadline = time + ($timeout // 60);
    while (time < $deadline) {
        return $self->{stop_rc} = $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return $self->{stop_rc} = -1;
}

sub error_log { read_file("$_[0]{dir}/logs/error.log") }

# what the module wrote: every line but nginx's own debug lines, which
# show request headers, credentials included
sub module_log_lines {
    my ($self) = @_;
    return grep { !/\[debug\]/ || /\[debug\] \d+#\d+: (\*\d+ )?postmark /
    } split /\n/, $self->error_log;
}

# error log lines at a level, without debug noise
sub log_lines {
    my ($self, $re) = @_;
    return grep { /$re/ } split /\n/, $self->error_log;
}

# a stand-in endpoint, stopped with nginx at the end of the test
sub standin {
    my ($self, $name, %opt) = @_;
    require PostmarkTest::Standin;
    my $server = PostmarkTest::Standin->new(dir => $self->{dir},
                                            name => $name, %opt);
    push @{ $self->{servers} }, $server;
    return $server;
}

# the closing checks of every test file: nginx stops cleanly on QUIT, now
# or when the test stopped it, and logged nothing alarming, sanitizers
# included
sub finish {
    my ($self, %opt) = @_;
    $_->stop for @{ $self->{servers} };
    my $rc = $self->{pid} ? $self->stop : $self->{stop_rc};
    is($rc, 0, 'nginx exits cleanly on QUIT');

    my $log = '';
    for my $f (qw(error.log stderr.log)) {
        my $p = "$self->{dir}/logs/$f";
        $log .= read_file($p) if -f $p;
    }

    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log;
    @bad = grep { !/$opt{allow}/ } @bad if $opt{allow};
    ok(!@bad, 'no alert, crit or emerg in error.log')
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);

    my @san = grep { /Sanitizer|runtime error:/ } split /\n/, $log;
    ok(!@san, 'no sanitizer report') or diag(join "\n", @san);

    # a file with several nginx instances finishes the others first
    done_testing() unless $opt{more};
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $_ && $_->stop for @{ $self->{servers} || [] };
    if (my $pid = delete $self->{pid}) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
}

# --- HTTP client -------------------------------------------------------

# post($path, $body, %opt): one request on a fresh connection.
#   port => N, user/password => Basic credentials, headers => {...},
#   method => 'POST', chunked => size of chunks, parts => [bytes...] sent
#   with a pause between them, the first with the head, timeout => seconds
sub post {
    my ($self, $path, $body, %opt) = @_;
    my $s = $self->send_request($path, $body, %opt) or return undef;
    return read_response($s, $opt{timeout} // 30);
}

sub send_request {
    my ($self, $path, $body, %opt) = @_;
    my $port = $opt{port} // $self->port(8080);
    my $method = $opt{method} // 'POST';
    my %h = (Host => 'localhost', Connection => 'close',
             %{ $opt{headers} || {} });

    if (defined $opt{user}) {
        require MIME::Base64;
        $h{Authorization} = 'Basic ' . MIME::Base64::encode_base64(
            "$opt{user}:" . ($opt{password} // ''), '');
    }

    my @parts;
    if (defined $body && $opt{chunked}) {
        $h{'Transfer-Encoding'} = 'chunked';
        my $wire = '';
        for (my $i = 0; $i < length $body; $i += $opt{chunked}) {
            my $c = substr $body, $i, $opt{chunked};
            $wire .= sprintf("%x\r\n", length $c) . $c . "\r\n";
        }
        @parts = ($wire . "0\r\n\r\n");
    } elsif (defined $body) {
        $h{'Content-Length'} = length $body;
        @parts = $opt{parts} ? @{ $opt{parts} } : ($body);
    }

    my $head = "$method $path HTTP/1.1\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n";

    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 5) or return undef;
    $s->autoflush(1);
    local $SIG{PIPE} = 'IGNORE';

    # the head and the first part in one write: nginx reads them together
    @parts = ('') unless @parts;
    _write_all($s, $head . $parts[0]) or return $s;
    for my $i (1 .. $#parts) {
        sleep($opt{pause} // 0.2);
        _write_all($s, $parts[$i]) or last;
    }
    return $s;
}

sub _write_all {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite $s, $data, 1 << 20, $off;
        return 0 unless defined $n && $n > 0;
        $off += $n;
    }
    return 1;
}

# several requests on one connection, each sent after the answer to the
# one before: [ [path, body, %opt], ... ]; returns the responses
sub keepalive {
    my ($self, @requests) = @_;
    my $port = $self->port(8080);
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Timeout => 5) or return ();
    local $SIG{PIPE} = 'IGNORE';
    my @responses;
    my $buf = '';

    for my $req (@requests) {
        _write_all($s, kept_request(@$req)) or last;

        my $r = _read_one($s, \$buf, 30) or last;
        push @responses, $r;
    }

    close $s;
    return @responses;
}

# the bytes of a request for a connection that stays open
sub kept_request {
    my ($path, $body, %opt) = @_;
    my %h = (Host => 'localhost', %{ $opt{headers} || {} });
    if (defined $opt{user}) {
        require MIME::Base64;
        $h{Authorization} = 'Basic ' . MIME::Base64::encode_base64(
            "$opt{user}:" . ($opt{password} // ''), '');
    }
    $h{'Content-Length'} = length $body;
    my $method = $opt{method} // 'POST';
    return "$method $path HTTP/1.1\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h) . "\r\n$body";
}

# one response with a Content-Length from a connection that stays open
sub _read_one {
    my ($s, $buf, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;

    while (time < $deadline) {
        if ($$buf =~ /^HTTP\/1\.[01] \d+[^\r\n]*\r\n(.*?)\r\n\r\n/s) {
            my $head_len = $+[0];
            my ($len) = $1 =~ /^content-length:\s*(\d+)/im;
            $len //= 0;
            if (length($$buf) >= $head_len + $len) {
                return parse_response(substr $$buf, 0, $head_len + $len, '');
            }
        }
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, $$buf, 65536, length $$buf;
        last unless $n;
    }
    return undef;
}

# reads one response; the connection is closed by the server afterwards
sub read_response {
    my ($s, $timeout) = @_;
    my $buf = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + ($timeout // 30);

    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $s, $buf, 65536, length $buf;
        last unless $n;
    }
    close $s;
    return parse_response($buf);
}

sub parse_response {
    my ($raw) = @_;
    return undef unless $raw =~ /^HTTP\/1\.[01] (\d+)[^\r\n]*\r\n(.*?)\r\n\r\n/s;
    my ($status, $head) = ($1, $2);
    my $body = substr $raw, $+[0];
    my %h;
    for (split /\r\n/, $head) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr $body, 0, $n, '';
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return { status => $status, headers => \%h, body => $body, raw => $raw };
}

# --- servers of the tests' own ----------------------------------------

# listens on a port, in a process group of its own, and serves each
# connection with $serve->($socket) in a process of its own; returns the pid
sub fork_server {
    my ($port, $serve) = @_;
    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $port,
        Listen => 128, ReuseAddr => 1, Proto => 'tcp')
        or die "cannot listen on $port: $!";

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        POSIX::setpgid(0, 0);
        $SIG{CHLD} = 'IGNORE';
        $SIG{TERM} = sub { POSIX::_exit(0) };
        while (1) {
            my $c = $listen->accept or next;
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                close $listen;
                $serve->($c);
                POSIX::_exit(0);
            }
            close $c;
        }
    }

    close $listen;
    return $pid;
}

# An endpoint that accepts connections, reads what comes, and never
# answers, as a hung host does: one process, whatever the number of
# connections.  Every 50 ms it writes to $file the request paths of the
# connections it holds open, "path count" a line.
sub blackhole {
    my ($port, $file) = @_;
    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $port,
        Listen => 1024, ReuseAddr => 1, Proto => 'tcp')
        or die "cannot listen on $port: $!";

    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $listen;
        return $pid;
    }

    POSIX::setpgid(0, 0);
    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $sel = IO::Select->new($listen);
    my (%path, %buf);
    my $written = 0;

    while (1) {
        for my $s ($sel->can_read(0.05)) {
            if ($s == $listen) {
                my $c = $listen->accept or next;
                $sel->add($c);
                $buf{$c} = '';
                next;
            }
            my $n = sysread $s, my $data, 65536;
            if (!$n) {
                $sel->remove($s);
                delete $path{$s};
                delete $buf{$s};
                close $s;
                next;
            }
            $buf{$s} .= $data if !exists $path{$s};
            if (!exists $path{$s} && $buf{$s} =~ m{^\S+ (\S+)}) {
                $path{$s} = $1;
                delete $buf{$s};
            }
        }
        next if time - $written < 0.05;
        $written = time;
        my %count;
        $count{$_}++ for values %path;
        open my $fh, '>', "$file.tmp" or next;
        print $fh map { "$_ $count{$_}\n" } sort keys %count;
        close $fh;
        rename "$file.tmp", $file;
    }
}

# what a blackhole holds: { path => open connections }
sub blackhole_paths {
    my ($file) = @_;
    return { map { split / / } split /\n/, read_file($file) };
}

# stops the server and every connection it serves, as a crashed host would
sub stop_server {
    my ($pid) = @_;
    kill 'TERM', -$pid;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# --- small utilities ---------------------------------------------------

sub wait_for {
    my ($cond, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $r = $cond->();
        return $r if $r;
        return 0 if time > $deadline;
        sleep 0.05;
    }
}

sub read_file {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $c = <$fh>;
    return $c // '';
}

# runs a C unit test binary (made by "make unit"), which prints TAP
sub run_unit {
    my ($name, @args) = @_;
    my $bin = ($ENV{TEST_UNIT_DIR} || "$ROOT/build/unit") . "/$name";

    unless (-x $bin) {
        print "1..1\nnot ok 1 - $bin is built (run \"make unit\")\n";
        exit 1;
    }

    exec $bin, @args or die "exec $bin: $!";
}

sub payload {
    my ($name) = @_;
    my $c = read_file("$ROOT/examples/payloads/$name.json");
    die "no payload $name" if $c eq '';
    return $c;
}

1;
