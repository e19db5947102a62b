#!/usr/bin/perl

# The portal's route core (templates and activity: what a client's portal
# may call, how each call is rebuilt, what is refused), tested on its own
# in C (built by "make unit" with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit repo_root);

run_unit('route_test');
