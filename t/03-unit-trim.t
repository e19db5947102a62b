#!/usr/bin/perl

# The field-removal core, tested on its own in C (built by "make unit"
# with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit);

run_unit('trim_test');
