#!/usr/bin/perl

# Every configuration in examples/ passes "nginx -t": whole nginx.conf
# files as they are, conf.d snippets inside a minimal main configuration.
# Secret and certificate files they name are created for the test, and
# logs under /var/log/nginx/ and the spool under /var/lib/nginx/ go to the
# test's directory.

use strict;
use warnings;

use Test::More;
use File::Basename qw(basename dirname);
use MIME::Base64 ();

use PostmarkTest qw(read_file repo_root);

my $t = PostmarkTest->new;
my $dir = $t->dir;
my @examples = glob(repo_root() . '/examples/*.conf');

ok(@examples >= 2, 'there are examples to check');

for my $example (@examples) {
    my $name = basename($example, '.conf');
    my $text = read_file($example);
    my $conf = "$dir/$name/nginx.conf";

    $text =~ s{/var/log/nginx/}{$dir/$name/logs/}g;
    $text =~ s{/var/lib/nginx/}{$dir/$name/lib/}g;

    # the module is loaded from where this test run built it
    my $load = $t->{so} ne '' ? "load_module $t->{so};" : '';

    if ($text =~ /^\s*events\s*\{/m) {
        $text =~ s/^load_module\s+\S+;/$load/m;
        $t->write_file($conf, $text);
    } else {
        $t->write_file("$name/snippet.conf", $text);
        $t->write_file($conf, $t->expand(<<"CONF"));
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%
    include $dir/$name/snippet.conf;
}
CONF
    }

    # secrets: signing secrets in Standard Webhooks' form, others random
    for my $secret ($text =~ /\bfile=(\S+?);/g) {
        my $value = $secret =~ /\.whsec$/
            ? 'whsec_' . MIME::Base64::encode_base64(join('', map { chr rand 256 }
                                                         1 .. 32), '')
            : "secret-$name-$secret";
        $t->write_file("$dir/$name/$secret", "$value\n");
    }

    # one certificate and key serve every TLS file named, in pairs
    my %pem;
    while ($text =~ /^\s*(ssl_certificate(?:_key)?|tls_\w+)\s+(\S+);/mg) {
        $pem{$2} = $1 if $1 ne 'tls_min_version';
    }

    if (%pem) {
        system('mkdir', '-p', "$dir/$name/pem");
        system("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=example"
               . " -days 1 -keyout '$dir/$name/pem/key' -out"
               . " '$dir/$name/pem/cert' >/dev/null 2>&1") == 0
            or die 'openssl req failed';

        for my $file (keys %pem) {
            my $kind = $pem{$file} =~ /key$/ ? 'key' : 'cert';
            system('mkdir', '-p', dirname("$dir/$name/$file"));
            system('cp', "$dir/$name/pem/$kind", "$dir/$name/$file");
        }
    }

    mkdir "$dir/$name/$_" for qw(logs tmp lib);
    my ($rc, $out) = $t->nginx_t($conf, "$dir/$name");
    is($rc, 0, "examples/$name.conf passes nginx -t") or diag $out;
}

done_testing;
