#!/usr/bin/perl

# Which of the module's files calls which, read off the compiled objects
# with nm: prints the graph, and fails when two files call each other or a
# chain of calls comes back to where it started (docs/architecture.md).
#
#   perl tools/calls.pl build/nginx-dev/addon/ngx_postmark_module

use strict;
use warnings;

my $dir = shift or die "usage: $0 OBJECT_DIR\n";
my @objs = sort glob("$dir/ngx_http_postmark_*.o")
    or die "$0: no objects of the module in $dir\n";

my (%defined, %uses);

for my $obj (@objs) {
    my ($name) = $obj =~ m{ngx_http_postmark_(\w+)\.o$};
    open my $nm, '-|', 'nm', $obj or die "nm $obj: $!\n";
    while (<$nm>) {
        if (/^\S+ T (ngx_http_postmark_\w+)$/) {
            $defined{$1} = $name;
        } elsif (/^\s+U (ngx_http_postmark_\w+)$/) {
            $uses{$name}{$1} = 1;
        }
    }
    close $nm or die "nm $obj failed\n";
}

my %calls;
for my $from (keys %uses) {
    for my $fn (keys %{ $uses{$from} }) {
        my $to = $defined{$fn} // next;
        $calls{$from}{$to} = 1 if $to ne $from;
    }
}

printf "%-13s -> %s\n", $_, join(' ', sort keys %{ $calls{$_} })
    for sort keys %calls;

# a depth-first walk: a file met again on the path is a cycle
my (%state, @cycles);
my $walk;
$walk = sub {
    my ($at, @path) = @_;
    $state{$at} = 1;
    for my $to (sort keys %{ $calls{$at} || {} }) {
        if (($state{$to} // 0) == 1) {
            my @from = @path[(grep { $path[$_] eq $to } 0 .. $#path)[0]
                             .. $#path];
            push @cycles, join(' -> ', @from, $to);
        } elsif (!$state{$to}) {
            $walk->($to, @path, $to);
        }
    }
    $state{$at} = 2;
};
$walk->($_, $_) for grep { !$state{$_} } sort keys %calls;

if (@cycles) {
    print STDERR "calls that come back:\n", map { "  $_\n" } @cycles;
    exit 1;
}

print "no two files call each other, no chain of calls comes back\n";
