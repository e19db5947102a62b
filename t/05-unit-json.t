#!/usr/bin/perl

# The JSON scanner that the event and field-removal cores share, tested on
# its own in C (built by "make unit" with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit);

run_unit('json_test');
