#!/usr/bin/perl

# The Templates API route core, tested on its own in C (built by
# "make unit" with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit repo_root);

run_unit('route_test');
