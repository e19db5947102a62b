#!/usr/bin/perl

# The spool's record core (framing, torn and damaged records, done marks),
# tested on its own in C (built by "make unit" with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit);

run_unit('record_test');
