package PostmarkTest::Standin;

# A stand-in for something outside the agency: a client's webhook endpoint
# (the default), or any HTTP/1.1 service given a handler.  It behaves like a
# real server: keep-alive, "100 Continue", Content-Length or chunked bodies
# both ways, and on demand slow answers, errors and connection resets.
# Every request it reads completely is appended to a log, so tests see
# exactly what arrived.
#
# Its behaviour is a "mode", read from a file before each answer, so a test
# changes it while connections stay open:
#   status => 200       the status to answer
#   delay => 0.5        seconds to wait before answering
#   action => 'answer'  or 'reset' (RST after reading the request),
#                       'reset_mid' (RST in the middle of the answer),
#                       'truncated_head' (a 200 cut inside its headers),
#                       'close' (close without an answer), 'hang'
#   chunked => 1        answer with a chunked body
#   headers => {...}    more headers to answer with, such as Retry-After
#
# It counts the requests it is answering at the same time, and keeps the
# highest count (max_concurrent), as a rate-limited endpoint would see it.
#
# With tls => { cert => ..., key => ..., ca => ..., version => ... } it
# speaks TLS; with "ca" it requires a client certificate signed by it, and
# records the certificate's subject with each request.

use strict;
use warnings;

use Fcntl qw(:flock);
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);

use PostmarkTest qw(free_port wait_for read_file fork_server stop_server);

my $json = JSON::PP->new->canonical;

sub new {
    my ($class, %opt) = @_;
    my $name = $opt{name} // 'standin';
    my $self = bless {
        dir => $opt{dir} // die('dir is required'),
        name => $name,
        port => $opt{port} // free_port(),
        handler => $opt{handler},
        tls => $opt{tls},
    }, $class;
    $self->{log} = "$self->{dir}/$name.requests";
    $self->{mode_file} = "$self->{dir}/$name.mode";
    $self->{active_file} = "$self->{dir}/$name.active";
    $self->set_mode(%{ $opt{mode} || {} });
    $self->start;
    return $self;
}

sub port { $_[0]{port} }
sub url {
    my ($self, $path) = @_;
    return ($self->{tls} ? 'https' : 'http') . "://127.0.0.1:$self->{port}"
        . ($path // '/');
}

sub set_mode {
    my ($self, %mode) = @_;
    my %m = (status => 200, delay => 0, action => 'answer', chunked => 0,
             %mode);
    my $tmp = "$self->{mode_file}.$$";
    open my $fh, '>', $tmp or die "$tmp: $!";
    print $fh $json->encode(\%m);
    close $fh;
    rename $tmp, $self->{mode_file} or die "rename: $!";
}

sub start {
    my ($self) = @_;
    $self->{pid} = fork_server($self->{port}, sub { $self->serve(@_) });
    return $self;
}

# stops listening and drops every open connection, as a crashed host would
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    stop_server($pid);
    wait_for(sub { !_listening($self->{port}) }, 5);
}

sub _listening {
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$_[0]", Timeout => 1);
    return $s ? 1 : 0;
}

sub DESTROY {
    local $?;
    $_[0]->stop if $_[0]{pid};
}

sub requests {
    my ($self) = @_;
    my @r;
    for my $line (split /\n/, read_file($self->{log})) {
        my $r = $json->decode($line);
        $r->{body} = read_file($r->{body_file});
        push @r, $r;
    }
    return @r;
}

sub count { scalar(() = read_file($_[0]{log}) =~ /\n/g) }

sub wait_requests {
    my ($self, $n, $timeout) = @_;
    wait_for(sub { $self->count >= $n }, $timeout // 10);
    return $self->requests;
}

sub clear {
    my ($self) = @_;
    unlink $self->{log}, $self->{active_file}, "$self->{log}.answered",
        glob("$self->{log}.body.*");
}

# how many answers were written whole: a test that stops the stand-in
# after a delivery waits for this, or it may cut the answer off and the
# delivery rightly counts as failed
sub answered {
    my ($self) = @_;
    return scalar(() = read_file("$self->{log}.answered") =~ /\n/g);
}

sub _answered {
    my ($self) = @_;
    open my $fh, '>>', "$self->{log}.answered" or die "$self->{log}: $!";
    flock $fh, LOCK_EX;
    print $fh "1\n";
    close $fh;
}

# the most requests answered at the same time since the last clear
sub max_concurrent {
    my ($self) = @_;
    open my $fh, '<', $self->{active_file} or return 0;
    flock $fh, LOCK_SH;     # not between another's truncate and write
    my ($now, $max) = split / /, (<$fh> // '0 0');
    close $fh;
    return $max // 0;
}

sub _active {
    my ($self, $delta) = @_;
    open my $fh, '+>>', $self->{active_file} or die "$self->{active_file}: $!";
    flock $fh, LOCK_EX;
    seek $fh, 0, 0;
    my ($now, $max) = split / /, (<$fh> // '0 0');
    $now = ($now // 0) + $delta;
    $max = $now if $now > ($max // 0);
    truncate $fh, 0;
    print $fh "$now $max";
    close $fh;
}

# --- one connection, in its own process --------------------------------

sub serve {
    my ($self, $c) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $buf = '';

    if (my $tls = $self->{tls}) {
        require IO::Socket::SSL;
        IO::Socket::SSL->start_SSL($c,
            SSL_server => 1,
            SSL_cert_file => $tls->{cert},
            SSL_key_file => $tls->{key},
            SSL_version => $tls->{version} // 'SSLv23:!SSLv2:!SSLv3',
            $tls->{ca}
            ? (SSL_ca_file => $tls->{ca},
               SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER()
                   | IO::Socket::SSL::SSL_VERIFY_FAIL_IF_NO_PEER_CERT())
            : (SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE()))
            or return;
        $self->{client_cert} = $c->peer_certificate('subject');
    }

    while (1) {
        my $req = _read_request($c, \$buf) or return;

        # the mode is read before the request is seen: a test that changes
        # it once it saw a request changes what the next one gets, never
        # the answer to the one it saw
        my $mode = eval { $json->decode(read_file($self->{mode_file})) }
            || { status => 200, action => 'answer' };

        $self->_record($req);
        $self->_active(1);

        sleep $mode->{delay} if $mode->{delay};
        $self->_active(-1);

        my $action = $mode->{action} // 'answer';

        if ($action eq 'hang') {
            sleep 3600;
            return;
        }
        if ($action eq 'close') {
            close $c;
            return;
        }
        if ($action eq 'reset') {
            _reset($c);
            return;
        }
        if ($action eq 'truncated_head') {
            syswrite $c, "HTTP/1.1 200 OK\r\nContent-Le";
            close $c;
            return;
        }

        my ($status, $headers, $body) = $self->{handler}
            ? $self->{handler}->($req, $mode)
            : ($mode->{status}, { 'Content-Type' => 'application/json',
                                  %{ $mode->{headers} || {} } },
               $mode->{status} =~ /^2/ ? '{"ok":true}'
               : qq({"error":"answered $mode->{status} on purpose"}));

        my $close = ($req->{headers}{connection} // '') =~ /close/i;
        my $head = "HTTP/1.1 $status " . _reason($status) . "\r\n";
        $head .= "$_: $headers->{$_}\r\n" for sort keys %$headers;
        $head .= "Connection: close\r\n" if $close;

        if ($action eq 'reset_mid') {
            syswrite $c, $head . "Content-Length: 1000\r\n\r\n"
                . substr($body . (' ' x 100), 0, 50);
            sleep 0.1;
            _reset($c);
            return;
        }

        if ($mode->{chunked}) {
            my $wire = '';
            for (my $i = 0; $i < length $body; $i += 7) {
                my $part = substr $body, $i, 7;
                $wire .= sprintf("%x\r\n", length $part) . "$part\r\n";
            }
            syswrite $c, $head . "Transfer-Encoding: chunked\r\n\r\n"
                . $wire . "0\r\n\r\n";
        } else {
            syswrite $c, $head . 'Content-Length: ' . length($body)
                . "\r\n\r\n" . $body;
        }
        $self->_answered;

        return if $close;
    }
}

sub _reset {
    my ($c) = @_;
    setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $c;
}

sub _reason {
    my %r = (200 => 'OK', 201 => 'Created', 204 => 'No Content',
             400 => 'Bad Request', 401 => 'Unauthorized', 404 => 'Not Found',
             410 => 'Gone', 415 => 'Unsupported Media Type',
             422 => 'Unprocessable Entity', 429 => 'Too Many Requests',
             500 => 'Internal Server Error', 502 => 'Bad Gateway',
             503 => 'Service Unavailable');
    return $r{$_[0]} // 'Status';
}

# TLS may hold decrypted bytes that select() cannot see
sub _readable {
    my ($c, $timeout) = @_;
    return 1 if $c->can('pending') && $c->pending;
    return IO::Select->new($c)->can_read($timeout);
}

sub _fill {
    my ($c, $buf, $want) = @_;
    while (length($$buf) < $want) {
        return 0 unless _readable($c, 60);
        my $n = sysread $c, $$buf, 1 << 20, length $$buf;
        return 0 unless $n;
    }
    return 1;
}

sub _read_request {
    my ($c, $buf) = @_;

    while ($$buf !~ /\r\n\r\n/) {
        return undef unless _readable($c, 60);
        my $n = sysread $c, $$buf, 65536, length $$buf;
        return undef unless $n;
    }

    $$buf =~ s/^(.*?)\r\n\r\n//s;
    my ($line, @lines) = split /\r\n/, $1;
    my ($method, $path) = $line =~ /^(\S+) (\S+) HTTP/ or return undef;
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }

    if (($h{expect} // '') =~ /100-continue/i) {
        syswrite $c, "HTTP/1.1 100 Continue\r\n\r\n";
    }

    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($$buf !~ /\r\n/) {
                _fill($c, $buf, length($$buf) + 1) or return undef;
            }
            $$buf =~ s/^([0-9a-fA-F]+)[^\r]*\r\n// or return undef;
            my $n = hex $1;
            _fill($c, $buf, $n + 2) or return undef;
            $body .= substr $$buf, 0, $n, '';
            substr $$buf, 0, 2, '';
            if ($n == 0) {
                last;
            }
        }
    } elsif (my $len = $h{'content-length'}) {
        _fill($c, $buf, $len) or return undef;
        $body = substr $$buf, 0, $len, '';
    }

    return { method => $method, path => $path, headers => \%h,
             body => $body, time => time };
}

# bodies go to files of their own; the log line names the file
sub _record {
    my ($self, $req) = @_;
    my %r = %$req;
    $r{tls_client} = $self->{client_cert} if $self->{client_cert};
    $r{at} = Time::HiRes::time();
    my $file = sprintf '%s.body.%d.%d', $self->{log}, $$, ++$self->{seq};
    open my $bf, '>', $file or die "$file: $!";
    binmode $bf;
    print $bf delete $r{body};
    close $bf;
    $r{body_file} = $file;
    open my $fh, '>>', $self->{log} or die "$self->{log}: $!";
    flock $fh, LOCK_EX;
    print $fh $json->encode(\%r), "\n";
    close $fh;
}

1;
