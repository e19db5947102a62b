#!/usr/bin/perl

# The module loaded into an nginx that does not use it: workers start,
# serve, reload and exit cleanly.

use strict;
use warnings;

use Test::More;

use PostmarkTest;

my $t = PostmarkTest->new;

$t->write_config(<<'EOF');
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location / { return 204; }
    }
}
EOF

$t->run;
is($t->post('/', undef, method => 'GET')->{status}, 204, 'nginx serves');
$t->reload;
is($t->post('/', undef, method => 'GET')->{status}, 204,
   'and serves after a reload');

$t->finish;
