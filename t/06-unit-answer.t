#!/usr/bin/perl

# The answer core (destinations' HTTP/1.x answers to forwards), tested on
# its own in C (built by "make unit" with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit);

run_unit('answer_test');
