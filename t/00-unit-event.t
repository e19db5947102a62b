#!/usr/bin/perl

# The event core (classification and filters), tested on its own (built
# by "make unit" with ASan and UBSan); the binary prints TAP.

use strict;
use warnings;

use PostmarkTest qw(repo_root);

my $root = repo_root();
my $bin = ($ENV{TEST_UNIT_DIR} || "$root/build/unit") . '/event_test';

unless (-x $bin) {
    print "1..1\nnot ok 1 - $bin is built (run \"make unit\")\n";
    exit 1;
}

exec $bin, "$root/examples/payloads" or die "exec $bin: $!";
