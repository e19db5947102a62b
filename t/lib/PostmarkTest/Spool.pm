package PostmarkTest::Spool;

# Helpers of the spool's tests: distinct events, bursts of them sent by
# several processes at once (as Postmark would), what arrived at a
# stand-in, and segment files made by hand (ngx_http_postmark_record.h).

use strict;
use warnings;

use Compress::Zlib qw(crc32);
use Exporter qw(import);
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);

use PostmarkTest qw(payload read_file wait_for);

our @EXPORT_OK = qw(event burst burst_start burst_wait arrivals
                    delivery_record done_record admin);

my $json = JSON::PP->new->canonical;

# a Delivery event of its own, told apart by $n
sub event {
    my ($n) = @_;
    (my $body = payload('delivery')) =~ s/"Details": "[^"]*"/"Details": "n$n"/
        or die 'no Details in the sample';
    return $body;
}

# sends events $from .. $to - 1 from $procs processes at once, as client
# $user (password "secret"); returns a handle for burst_wait
sub burst_start {
    my ($t, %opt) = @_;
    my $from = $opt{from} // 0;
    my $to = $opt{to} // die 'to is required';
    my $procs = $opt{procs} // 4;
    my $user = $opt{user} // 'acme';
    my $file = $t->dir . "/burst.$from.$to";
    my @pids;

    unlink glob("$file.*");

    for my $p (0 .. $procs - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open my $out, '>', "$file.$p" or POSIX::_exit(1);
            $out->autoflush(1);
            for (my $n = $from + $p; $n < $to; $n += $procs) {
                my $r = $t->post('/webhook', event($n), user => $user,
                                 password => 'secret', timeout => 30);
                my $id = '-';
                if ($r && $r->{status} == 200) {
                    $id = eval { decode_json($r->{body})->{webhook_id} }
                          // '-';
                }
                print $out join(' ', $n, $r ? $r->{status} : 0, $id), "\n";
            }
            close $out;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    return { file => $file, pids => \@pids, procs => $procs };
}

# waits for a burst; returns { n => [status, webhook_id] }
sub burst_wait {
    my ($b) = @_;
    waitpid $_, 0 for @{ $b->{pids} };
    return burst_results($b);
}

# what was answered so far
sub burst_results {
    my ($b) = @_;
    my %r;
    for my $p (0 .. $b->{procs} - 1) {
        for my $line (split /\n/, read_file("$b->{file}.$p")) {
            my ($n, $status, $id) = split / /, $line;
            $r{$n} = [$status, $id] if defined $id;
        }
    }
    return \%r;
}

sub burst {
    my ($t, %opt) = @_;
    return burst_wait(burst_start($t, %opt));
}

# webhook-id => how many times it arrived, and the bodies by webhook-id
sub arrivals {
    my ($standin) = @_;
    my (%count, %body);
    for my $r ($standin->requests) {
        my $id = $r->{headers}{'webhook-id'} // next;
        $count{$id}++;
        $body{$id} //= $r->{body};
    }
    return (\%count, \%body);
}

# records as ngx_http_postmark_record.h lays them out
sub _record {
    my ($type, $fields) = @_;
    my $rest = pack('CCv', $type, 1, 0) . $fields;
    my $len = 12 + length $rest;
    return 'PMSP' . pack('V', $len) . pack('V', crc32($rest)) . $rest;
}

sub delivery_record {
    my (%r) = @_;
    my $ms = $r{created} // int(time * 1000);
    my @f = ($r{client}, $r{destination}, $r{id}, $r{event} // 'Delivery');
    return _record(1, pack('VV', $ms % 2**32, int($ms / 2**32))
        . pack('vvvv', map { length } @f) . pack('V', length $r{body})
        . join('', @f) . $r{body});
}

sub done_record {
    my ($offset) = @_;
    return _record(2, pack('VV', $offset % 2**32, int($offset / 2**32)));
}

# a call to the spool's administration
sub admin {
    my ($t, $method, $path, %opt) = @_;
    my $r = $t->post($path, $method eq 'POST' ? '' : undef,
                     method => $method,
                     headers => { Authorization =>
                                  'Bearer ' . ($opt{key} // 'k' x 32) });
    $r->{json} = eval { decode_json($r->{body}) } if $r;
    return $r;
}

1;
