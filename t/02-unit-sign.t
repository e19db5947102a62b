#!/usr/bin/perl

# The signing core (Standard Webhooks), tested on its own in C (built by
# "make unit" with ASan and UBSan).

use strict;
use warnings;

use PostmarkTest qw(run_unit repo_root);

run_unit('sign_test');
