#!/usr/bin/perl

# TLS to destinations, against stand-ins with certificates made here: a
# certificate of a trusted authority passes; self-signed, expired and
# wrong-host certificates fail with a clear error line and a 503; the
# system's authorities are the default; mutual TLS presents the client
# certificate; a minimum version holds; and a proxy carries forwards.

use strict;
use warnings;

use Test::More;

use PostmarkTest qw(payload);
use PostmarkTest::Proxy;

my $t = PostmarkTest->new;
my $dir = $t->dir;

sub openssl {
    my $cmd = join ' ', 'openssl', @_;
    system("$cmd >/dev/null 2>&1") == 0 or die "failed: $cmd";
}

my $ec = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

openssl("req -x509 $ec -keyout $dir/ca.key -out $dir/ca.pem -days 2",
        "-subj /CN=postmark-test-ca",
        '-addext basicConstraints=critical,CA:TRUE',
        '-addext keyUsage=critical,keyCertSign,cRLSign');

# a certificate signed by the test's authority
sub issue {
    my ($name, $san, $days, @ext) = @_;
    openssl("req $ec -keyout $dir/$name.key -out $dir/$name.csr",
            "-subj /CN=$name");
    $t->write_file("$name.ext", join "\n", "subjectAltName=$san", @ext);
    openssl("x509 -req -in $dir/$name.csr -CA $dir/ca.pem",
            "-CAkey $dir/ca.key -CAcreateserial -days $days",
            "-extfile $dir/$name.ext -out $dir/$name.pem");
}

issue('server', 'IP:127.0.0.1', 2);
issue('expired', 'IP:127.0.0.1', -1);
issue('wrong-host', 'DNS:other.example', 2);
issue('forwarder', 'DNS:forwarder.agency.example', 2,
      'extendedKeyUsage=clientAuth');
openssl("req -x509 $ec -keyout $dir/self.key -out $dir/self.pem -days 2",
        '-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1');

sub tls_standin {
    my ($name, $cert, %tls) = @_;
    return $t->standin($name, tls => { cert => "$dir/$cert.pem",
                                       key => "$dir/$cert.key", %tls });
}

my %s = (
    good => tls_standin('good', 'server'),
    self => tls_standin('self', 'self'),
    expired => tls_standin('expired', 'expired'),
    wrong => tls_standin('wrong', 'wrong-host'),
    mtls => tls_standin('mtls', 'server', ca => "$dir/ca.pem"),
    tls12 => tls_standin('tls12', 'server', version => 'TLSv1_2'),
    plain => $t->standin('plain'),
);

my $proxy = PostmarkTest::Proxy->new(dir => $dir);

# one client per case, so that each event has one destination
my %forward = (
    trusted => [$s{good}, 'tls_trusted_certificate ca.pem;'],
    default => [$s{good}, ''],
    self => [$s{self}, 'tls_trusted_certificate ca.pem;'],
    expired => [$s{expired}, 'tls_trusted_certificate ca.pem;'],
    wrong => [$s{wrong}, 'tls_trusted_certificate ca.pem;'],
    mtls => [$s{mtls}, 'tls_trusted_certificate ca.pem; '
                       . 'tls_certificate forwarder.pem; '
                       . 'tls_certificate_key forwarder.key;'],
    nocert => [$s{mtls}, 'tls_trusted_certificate ca.pem;'],
    tls13 => [$s{tls12}, 'tls_trusted_certificate ca.pem; '
                         . 'tls_min_version TLSv1.3;'],
    tls12 => [$s{tls12}, 'tls_trusted_certificate ca.pem; '
                         . 'tls_min_version TLSv1.2;'],
);

my $clients = '';

for my $name (sort keys %forward) {
    my ($standin, $settings) = @{ $forward{$name} };
    $clients .= "postmark_client $name {\n"
        . "    webhook_user $name; webhook_password secret;\n"
        . "    forward " . $standin->url("/$name") . " { $settings }\n}\n";
}

$clients .= <<"EOF";
postmark_client proxied {
    webhook_user proxied; webhook_password secret;
    proxy ${\ $proxy->url };
    forward ${\ $s{plain}->url('/through-proxy') } { }
    forward ${\ $s{good}->url('/tunnel') } { tls_trusted_certificate ca.pem; }
}
EOF

$t->write_config(<<"EOF");
%%TEST_GLOBALS%%
events { }
http {
    %%TEST_GLOBALS_HTTP%%
$clients
    server {
        listen 127.0.0.1:%%PORT_8080%%;
        location = /webhook { postmark_webhook; }
    }
}
EOF

# tls_* files are relative to the configuration's directory
$t->run;

my $body = payload('delivery');

sub deliver {
    my ($client) = @_;
    return $t->post('/webhook', $body, user => $client,
                    password => 'secret')->{status};
}

sub last_error {
    my ($client) = @_;
    my @lines = $t->log_lines(qr/\[error\].*client "$client": forward/);
    return $lines[-1] // '';
}

is(deliver('trusted'), 200, 'a certificate of the trusted authority: 200');
is(scalar(grep { $_->{path} eq '/trusted' } $s{good}->requests), 1,
   'and the event arrived');

for my $case (['default', qr/unable to get local issuer certificate/,
               "the system's authorities do not know the test's"],
              ['self', qr/self-signed certificate/, 'self-signed'],
              ['expired', qr/certificate has expired/, 'expired'],
              ['wrong', qr/no alternative certificate subject name matches/,
               'wrong host'],
              # the server's alert can race curl's own reading of the
              # closed socket, which curl then reports instead
              ['nocert', qr/SSL|alert|reset|not connected/i,
               'no client certificate where one is required'],
              ['tls13', qr/SSL|alert|protocol|version/i,
               'a server below the minimum TLS version'])
{
    my ($client, $re, $name) = @$case;
    is(deliver($client), 503, "$name: 503");
    like(last_error($client), qr/forward to "https:\/\/127\.0\.0\.1:\d+\/$client" failed after \d+ ms: .*$re/,
         "$name: the error line says why");
}

is(scalar(grep { $_->{path} =~ m{^/(default|self|expired|wrong|nocert|tls13)$} }
          map { $_->requests } values %s), 0,
   'no event reached a destination that failed verification');

is(deliver('mtls'), 200, 'mutual TLS: 200');
my ($m) = grep { $_->{path} eq '/mtls' } $s{mtls}->requests;
like($m->{tls_client} // '', qr/forwarder/,
     'mutual TLS: the destination saw the client certificate');

is(deliver('tls12'), 200, 'a server at the minimum TLS version: 200');

# a proxy, from the client's default
is(deliver('proxied'), 200, 'through the proxy: 200');
my @lines = $proxy->lines;
ok((grep { m{^POST http://127\.0\.0\.1:\d+/through-proxy HTTP/1\.1$} } @lines),
   'an http:// destination is reached through the proxy');
ok((grep { /^CONNECT 127\.0\.0\.1:\d+ HTTP\/1\.1$/ } @lines),
   'an https:// destination is tunnelled through it');
is(scalar(grep { $_->{path} =~ m{/through-proxy$} } $s{plain}->requests), 1,
   'and the event arrived');
is(scalar(grep { $_->{path} eq '/tunnel' } $s{good}->requests), 1,
   'and through the tunnel too');

$proxy->stop;
is(deliver('proxied'), 503, 'the proxy down: 503');
like(last_error('proxied'),
     qr/forward to "https?:\/\/127\.0\.0\.1:\d+\/\S+" via proxy "http:\/\/127\.0\.0\.1:\d+\/" failed after/,
     'the proxy down: the error line names the proxy');

$t->finish;
