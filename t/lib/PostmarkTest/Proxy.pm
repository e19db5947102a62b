package PostmarkTest::Proxy;

# A stand-in for an agency's outbound HTTP proxy: it takes requests in
# absolute form ("POST http://host:port/path") and CONNECT tunnels, passes
# the bytes on both ways, and logs the request line of each connection.

use strict;
use warnings;

use Fcntl qw(:flock);
use IO::Select;
use IO::Socket::INET;

use PostmarkTest qw(free_port read_file fork_server stop_server);

sub new {
    my ($class, %opt) = @_;
    my $self = bless { dir => $opt{dir}, port => free_port() }, $class;
    $self->{log} = "$self->{dir}/proxy.log";

    $self->{pid} = fork_server($self->{port}, sub { $self->relay(@_) });
    return $self;
}

sub url { "http://127.0.0.1:$_[0]{port}" }

sub lines { split /\n/, read_file($_[0]{log}) }

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    stop_server($pid);
}

sub DESTROY {
    local $?;
    $_[0]->stop if $_[0]{pid};
}

sub relay {
    my ($self, $c) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $head = '';

    while ($head !~ /\r\n\r\n/) {
        sysread($c, $head, 65536, length $head) or return;
    }

    my ($line) = $head =~ /^([^\r\n]*)/;

    open my $fh, '>>', $self->{log} or die $!;
    flock $fh, LOCK_EX;
    print $fh "$line\n";
    close $fh;

    my ($method, $target) = split / /, $line;
    my ($host, $port) = $method eq 'CONNECT'
        ? $target =~ /^([^:]+):(\d+)$/
        : $target =~ m{^http://([^:/]+):?(\d*)};
    $port ||= 80;

    my $up = IO::Socket::INET->new(PeerAddr => "$host:$port", Timeout => 5)
        or do { syswrite $c, "HTTP/1.1 502 Bad Gateway\r\n\r\n"; return };

    if ($method eq 'CONNECT') {
        $head =~ s/^.*?\r\n\r\n//s;
        syswrite $c, "HTTP/1.1 200 Connection established\r\n\r\n";
    }

    syswrite $up, $head if length $head;

    my $sel = IO::Select->new($c, $up);

    while (my @ready = $sel->can_read(60)) {
        for my $from (@ready) {
            my $n = sysread $from, my $data, 65536;
            return unless $n;
            syswrite($from == $c ? $up : $c, $data);
        }
    }
}

1;
