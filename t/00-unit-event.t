#!/usr/bin/perl

# The event core (classification and filters), tested on its own in C (built by
# "make unit" with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit repo_root);

run_unit('event_test', repo_root() . '/examples/payloads');
