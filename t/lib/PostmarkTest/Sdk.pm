package PostmarkTest::Sdk;

# The official SDKs as the tests drive them: a script of t/sdk run by
# postmark.js (npm, installed by "make sdk" into build/sdk, or
# TEST_SDK_DIR) or by Debian's ruby-postmark, against a portal at
# 127.0.0.1; each call's outcome as the script printed it.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use Test::More;

use PostmarkTest qw(repo_root);

our @EXPORT_OK = qw(node ruby);

my $sdk = $ENV{TEST_SDK_DIR} || repo_root() . '/build/sdk';

# node('activity.js', 8080, '/portal/acme/postmark', $key)
sub node {
    my ($script, $port, $prefix, $key) = @_;
    BAIL_OUT("no postmark.js in $sdk; run \"make sdk\"")
        unless -f "$sdk/node_modules/postmark/package.json";
    local $ENV{NODE_PATH} = "$sdk/node_modules";
    return outcomes(`node ${\ repo_root() }/t/sdk/$script 127.0.0.1:$port$prefix $key 2>&1`);
}

# ruby('activity.rb', 8080, '/portal/acme/postmark/', $key)
sub ruby {
    my ($script, $port, $prefix, $key) = @_;
    return outcomes(`ruby ${\ repo_root() }/t/sdk/$script 127.0.0.1 $port $prefix $key 2>&1`);
}

sub outcomes {
    my @out = @_;
    my @calls = map { decode_json($_) } grep { /^\{/ } @out;
    diag(join '', grep { !/^\{/ } @out) unless @calls;
    return @calls;
}

1;
