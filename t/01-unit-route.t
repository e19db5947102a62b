#!/usr/bin/perl

# The Templates API route core, tested on its own (built by "make unit"
# with ASan and UBSan); the binary prints TAP.

use strict;
use warnings;

use PostmarkTest qw(repo_root);

my $bin = ($ENV{TEST_UNIT_DIR} || repo_root() . '/build/unit') . '/route_test';

unless (-x $bin) {
    print "1..1\nnot ok 1 - $bin is built (run \"make unit\")\n";
    exit 1;
}

exec $bin or die "exec $bin: $!";
