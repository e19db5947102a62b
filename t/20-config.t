#!/usr/bin/perl

# "nginx -t" catches configuration mistakes, naming the file and the line
# and saying what to write instead.  In each case below the line marked
# "#<" is the one nginx must name.

use strict;
use warnings;

use Test::More;
use IO::Select;
use POSIX ();

use PostmarkTest qw(wait_for);

my $t = PostmarkTest->new;

$t->write_file('secrets/ok', "s3cret\n");
$t->write_file('secrets/empty', "\n\n");
$t->write_file('secrets/two-lines', "first\nsecond\n");
$t->write_file('secrets/large', 'x' x 5000);
$t->write_file('secrets/bom', "\xEF\xBB\xBFs3cret\n");

my $n = 0;

sub conf {
    my ($http) = @_;
    return "%%TEST_GLOBALS%%\nevents { }\nhttp {\n%%TEST_GLOBALS_HTTP%%\n"
         . "$http\n}\n";
}

sub fails {
    my ($name, $http, $re) = @_;
    my $file = 'case-' . ++$n . '.conf';
    my $text = conf($http);
    my @lines = split /\n/, $t->expand($text);
    my ($line) = grep { $lines[$_ - 1] =~ /#</ } 1 .. @lines;
    die "case $name has no #< marker" unless $line;

    my ($rc, $out) = $t->config_test($text, $file);
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\] .*$re.* in \Q${\ $t->dir }\E\/$file:$line$/m,
         "$name: message names $file:$line");
}

my $forward = 'forward http://127.0.0.1:9/hook { }';

sub client {
    my ($name, $body) = @_;
    return "postmark_client $name {\n$body\n}\n";
}

my $creds = "webhook_user u;\nwebhook_password p;\n";

# a good configuration first, so that the failures below mean something
my ($rc, $out) = $t->config_test(conf(
    client('acme', "webhook_user acme;\nwebhook_password file=secrets/ok;\n"
                 . "forward https://hooks.acme.example/postmark?k=v {\n"
                 . "events Bounce SpamComplaint; streams outbound;\n"
                 . "tags a b; metadata k=v k=w j=; header X-Key \"v 1\";\n"
                 . "timeout 30s; }\n$forward\n")
    . client('portal-only', "server_token file=secrets/ok;\n"
                          . "portal_key other-portal-secret; templates full;")
    . "postmark_api_url http://127.0.0.1:9/base/;\n"
    . "postmark_api_timeout 20s; postmark_templates_max_body_size 64k;\n"
    . "server { location = /w { postmark_webhook; }\n"
    . "location = /a { postmark_webhook acme; }\n"
    . "location /portal/ { postmark_portal portal-only; }\n"
    . "location ^~ /p2 { postmark_portal portal-only;\n"
    . "postmark_api_url https://api.postmarkapp.com; } }\n"));
is($rc, 0, 'a valid configuration passes') or diag $out;

# event types
fails('unknown event type',
      client('a', "$creds forward http://h/ {\nevents Bounce Opens; #<\n}"),
      qr/unknown event type "Opens"; use one or more of Bounce, SpamComplaint, Delivery, Open, Click, SubscriptionChange, Inbound/);
fails('event type in the wrong case',
      client('a', "$creds forward http://h/ {\nevents bounce; #<\n}"),
      qr/unknown event type "bounce"; event types are case-sensitive/);
fails('event type with a control character',
      client('a', "$creds forward http://h/ {\nevents \"Op\\ren\"; #<\n}"),
      qr/unknown event type "Op\\x0den"/);

# URLs
for my $case (
    ['ftp URL', 'ftp://h/x', qr/only "http:\/\/" and "https:\/\/" are supported/],
    ['URL without scheme', 'hooks.example/x', qr/invalid forward URL "hooks.example\/x"/],
    ['URL with a space', '"http://h/a b"', qr/invalid forward URL/],
    ['URL with a line break', '"http://h/a\nb"', qr/invalid forward URL: it contains a control character/],
    ['URL without host', 'http:///x', qr/invalid forward URL/],
    ['URL with one slash', 'http:/x', qr/invalid forward URL "http:\/x": write "forward https:\/\/host\/path/],
    ['URL with a fragment', 'http://h/x#frag', qr/a "#fragment" is never sent/],
    ['URL with a bad port', 'http://h:99999/x', qr/invalid forward URL/],
) {
    my ($name, $url, $re) = @$case;
    fails($name, client('a', "$creds forward $url { #<\n}"), $re);
}

# clients
fails('duplicate client',
      client('a', "$creds $forward") . "postmark_client a { #<\n}",
      qr/duplicate postmark client "a", first defined in .*case-\d+\.conf:\d+; give each client its own name/);
fails('duplicate webhook user',
      client('a', "$creds $forward")
      . "postmark_client b {\nwebhook_user u; #<\nwebhook_password q; $forward\n}",
      qr/postmark client "b" has the same "webhook_user" as client "a"/);
fails('invalid client name', 'postmark_client "a b" { #<' . "\n}",
      qr/invalid postmark client name "a b"/);
fails('URL credentials that decode to a line break',
      client('a', "$creds\nforward http://u%0D%0A:p\@127.0.0.1:9/x { }\n} #<\n#"),
      qr/the credentials of the URL of forward "http:\/\/127\.0\.0\.1:9\/x" are not valid text once decoded; percent-encode printable characters only/);
fails('credentials without destination',
      client('a', "$creds } #<\n#"),
      qr/postmark client "a" has webhook credentials but no destination; add "forward https:\/\/\.\.\. \{ \.\.\. \}"/);
fails('destination without credentials',
      client('a', "$forward\n} #<\n#"),
      qr/postmark client "a" has "forward" destinations but no webhook credentials/);
fails('user without password',
      client('a', "webhook_user u; $forward } #<\n#"),
      qr/has "webhook_user" but no "webhook_password"/);
fails('password without user',
      client('a', "webhook_password p; $forward } #<\n#"),
      qr/has "webhook_password" but no "webhook_user"/);
fails('user with a colon',
      client('a', "webhook_user a:b; #<\nwebhook_password p; $forward"),
      qr/contains ":", which HTTP Basic authentication does not allow/);
fails('duplicate webhook_user',
      client('a', "webhook_user a;\nwebhook_user b; #<\n"),
      qr/"webhook_user" directive is duplicate/);

# secrets
fails('missing secret file',
      client('a', "webhook_user u;\nwebhook_password file=secrets/none; #<"),
      qr/cannot read secret file ".*secrets\/none" \(2: No such file or directory\)/);
fails('empty secret file',
      client('a', "webhook_user u;\nwebhook_password file=secrets/empty; #<"),
      qr/secret file ".*secrets\/empty" is empty/);
fails('secret file of two lines',
      client('a', "webhook_user u;\nwebhook_password file=secrets/two-lines; #<"),
      qr/has more than one line or a control character/);
fails('secret file too large',
      client('a', "webhook_user u;\nwebhook_password file=secrets/large; #<"),
      qr/is larger than 4096 bytes/);
fails('file= without a path',
      client('a', "webhook_user u;\nwebhook_password file=; #<"),
      qr/"webhook_password" needs a path: write "file=\/path\/to\/secret"/);
fails('empty inline secret',
      client('a', "webhook_user u;\nwebhook_password \"\"; #<"),
      qr/empty secret in "webhook_password"/);
fails('secret with a line break',
      client('a', "webhook_user u;\nwebhook_password \"a\\nb\"; #<"),
      qr/secret in "webhook_password" contains a control character/);
fails('secret file with a byte-order mark',
      client('a', "webhook_user u;\nwebhook_password file=secrets/bom; #<"),
      qr/secret file ".*secrets\/bom" starts with a UTF-8 byte-order mark, which would become part of the secret; save the file without it/);
fails('a directory as secret file',
      client('a', "webhook_user u;\nwebhook_password file=secrets; #<"),
      qr/secret file ".*secrets" is not a regular file; write the secret into a file of its own/);

# a FIFO would hang "nginx -t", and a reload's master, deaf to signals:
# each case runs nginx -t with a bound, and must fail at once, naming the
# file, the line and why
my $fifo = $t->dir . '/secrets/fifo';
system('mkfifo', $fifo) == 0 or die "mkfifo: $!";

sub fails_at_once {
    my ($name, $http, $re) = @_;
    my $file = 'case-' . ++$n . '.conf';
    my $text = conf($http);
    my @lines = split /\n/, $t->expand($text);
    my ($line) = grep { $lines[$_ - 1] =~ /#</ } 1 .. @lines;
    die "case $name has no #< marker" unless $line;
    $t->write_config($text, $file);

    my $pid = open my $fh, '-|';
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $t->bin, '-t', '-q', '-p', $t->dir . '/', '-c',
             $t->dir . "/$file";
    }
    my $sel = IO::Select->new($fh);
    my $out = '';
    while ($sel->can_read(10)) {
        sysread($fh, $out, 4096, length $out) or last;
    }
    my $done = waitpid($pid, POSIX::WNOHANG()) == $pid
               || wait_for(sub { waitpid($pid, POSIX::WNOHANG()) == $pid },
                           2);
    my $rc = $?;
    unless ($done) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    ok($done, "$name: nginx -t does not hang");
    ok($done && $rc != 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\] .*$re.* in \Q${\ $t->dir }\E\/$file:$line$/m,
         "$name: refused, naming $file:$line");
}

fails_at_once('a FIFO as secret file',
      client('a', "webhook_user u;\nwebhook_password file=secrets/fifo; #<"),
      qr/secret file ".*secrets\/fifo" is not a regular file; write the secret into a file of its own/);

# readable by every user of the machine: a warning, and it still loads
{
    chmod 0644, $t->dir . '/secrets/ok';
    my ($rc, $out) = $t->config_test(conf(
        client('a', "webhook_user u;\nwebhook_password file=secrets/ok;\n"
                    . $forward)));
    is($rc, 0, 'a world-readable secret file still loads');
    like($out, qr/\[warn\] .*secret file ".*secrets\/ok" is readable by every user of the machine; "chmod o-r" it/,
         'with a warning');
    chmod 0600, $t->dir . '/secrets/ok';
    ($rc, $out) = $t->config_test(conf(
        client('a', "webhook_user u;\nwebhook_password file=secrets/ok;\n"
                    . $forward)));
    unlike($out, qr/readable by every user/, 'and none once it is not');
}

# headers
for my $case (
    ['header value with CR LF', 'X-A "v\r\nInjected: 1"', qr/invalid value of header "X-A": it contains a line break/],
    ['header value with NUL', "X-A \"v\0w\"", qr/invalid value of header "X-A"/],
    ['header name with a colon', '"X-A:" v', qr/invalid header name "X-A:"/],
    ['header name with a space', '"X A" v', qr/invalid header name "X A"/],
    ['header name with LF', '"X\nA" v', qr/invalid header name "X\\x0aA"/],
    ['empty header name', '"" v', qr/empty header name/],
    ['Content-Length header', 'Content-Length 5', qr/header "Content-Length" is set by the module and cannot be configured/],
    ['Host header', 'host evil.example', qr/header "host" is set by the module/],
    ['webhook-id header', 'Webhook-Id x', qr/header "Webhook-Id" is set by the module/],
    ['Transfer-Encoding header', 'Transfer-Encoding chunked', qr/is set by the module/],
) {
    my ($name, $args, $re) = @$case;
    fails($name, client('a', "$creds forward http://h/ {\nheader $args; #<\n}"), $re);
}

# filters and timeout
fails('metadata without "="',
      client('a', "$creds forward http://h/ {\nmetadata campaign; #<\n}"),
      qr/invalid metadata filter "campaign"; write "key=value"/);
fails('metadata without key',
      client('a', "$creds forward http://h/ {\nmetadata =spring; #<\n}"),
      qr/invalid metadata filter "=spring"/);
fails('empty tag', client('a', "$creds forward http://h/ {\ntags \"\"; #<\n}"),
      qr/invalid value "" in "tags"/);
fails('duplicate events',
      client('a', "$creds forward http://h/ {\nevents Open;\nevents Click; #<\n}"),
      qr/"events" directive is duplicate/);
fails('timeout over Postmark\'s wait',
      client('a', "$creds forward http://h/ {\ntimeout 5m; #<\n}"),
      qr/"timeout" directive must be between 1ms and 110s, as Postmark waits 2 minutes/);
fails('timeout not a time',
      client('a', "$creds forward http://h/ {\ntimeout soon; #<\n}"),
      qr/"timeout" directive invalid value/);

# directives in the wrong place, or misspelt
fails('misspelt directive in forward',
      client('a', "$creds forward http://h/ {\nevnts Open; #<\n}"),
      qr/unknown directive "evnts"/);
fails('filter outside forward', client('a', "$creds\nevents Open; #<"),
      qr/"events" directive is not allowed here/);
fails('client directive in forward',
      client('a', "$creds forward http://h/ {\nwebhook_user x; #<\n}"),
      qr/"webhook_user" directive is not allowed here/);
fails('client inside server',
      "server {\npostmark_client a { #<\n}\n}",
      qr/"postmark_client" directive is not allowed here/);
fails('nested client', client('a', "postmark_client b { #<\n}"),
      qr/"postmark_client" directive is not allowed here/);
fails('forward without a block',
      client('a', "$creds forward http://h/; #<"),
      qr/directive "forward" has no opening "\{"/);

# locations
fails('unknown client in a location',
      client('a', "$creds $forward")
      . "server { location / { postmark_webhook acme; #<\n} }",
      qr/unknown postmark client "acme"; define it with "postmark_client acme \{ \.\.\. \}" at http level/);
fails('location client without credentials',
      client('a', "server_token t; portal_key kkkkkkkkkkkkkkkk;")
      . "server { location / { postmark_webhook a; #<\n} }",
      qr/postmark client "a" has no "webhook_user" and "webhook_password"/);
fails('client with nothing to do', client('a', "} #<\n#"),
      qr/postmark client "a" has nothing to do; give it "webhook_user", "webhook_password" and a "forward", or "server_token" and "portal_key"/);
fails('receiver without any client',
      "server { location / { postmark_webhook; #<\n} }",
      qr/"postmark_webhook" is used, but no "postmark_client" has "webhook_user" and "webhook_password"/);
fails('duplicate postmark_webhook',
      client('a', "$creds $forward")
      . "server { location / { postmark_webhook;\npostmark_webhook; #<\n} }",
      qr/"postmark_webhook" directive is duplicate/);
fails('postmark_webhook at server level',
      client('a', "$creds $forward") . "server { postmark_webhook; #<\n}",
      qr/"postmark_webhook" directive is not allowed here/);

# the Templates API proxy
my $portal = "server_token t;\nportal_key kkkkkkkkkkkkkkkk;\n";

fails('server_token without portal_key',
      client('a', "server_token t; } #<\n#"),
      qr/postmark client "a" has "server_token" but no "portal_key"; its portal needs both/);
fails('portal_key without server_token',
      client('a', "portal_key kkkkkkkkkkkkkkkk; } #<\n#"),
      qr/has "portal_key" but no "server_token"/);
fails('templates without a token',
      client('a', "$creds $forward templates full; } #<\n#"),
      qr/"templates" of postmark client "a" needs "server_token" and "portal_key"/);
fails('templates with a bad value',
      client('a', "$portal\ntemplates all; #<"),
      qr/invalid value "all"; write "templates full;", "templates read-only;" or "templates off;"/);
fails('duplicate templates',
      client('a', "$portal\ntemplates full;\ntemplates full; #<"),
      qr/"templates" directive is duplicate/);
fails('portal key equal to the token',
      client('a', "server_token same-secret-value;\n"
                  . "portal_key same-secret-value; #<"),
      qr/"portal_key" of postmark client "a" is its server token; the portal key must be a secret of its own/);
fails('portal key shared by two clients',
      client('a', $portal) . "postmark_client b {\nserver_token u;\n"
      . "portal_key kkkkkkkkkkkkkkkk; #<\n}",
      qr/postmark client "b" has the same "portal_key" as client "a"/);
fails('portal key too short',
      client('a', "server_token t;\nportal_key shortkey; #<"),
      qr/the "portal_key" of postmark client "a" is too short; use at least 16 characters/);
fails('portal key equal to another client\'s server token',
      client('a', "server_token the-token-of-a-real-server;\nportal_key kkkkkkkkkkkkkkkk;")
      . client('b', "server_token u;\nportal_key the-token-of-a-real-server; #<"),
      qr/"portal_key" of postmark client "b" is the "server_token" of client "a" \(.*:\d+\); the portal key must be a secret of its own/);
fails('portal key equal to another client\'s webhook password',
      client('a', "webhook_user u;\nwebhook_password the-webhook-password;\n$forward")
      . client('b', "server_token u;\nportal_key the-webhook-password; #<"),
      qr/"portal_key" of postmark client "b" is the "webhook_password" of client "a"/);
fails('portal key equal to its own webhook password',
      client('a', "webhook_user u;\nwebhook_password the-webhook-password;\n$forward\n"
                  . "server_token u;\nportal_key the-webhook-password; #<"),
      qr/"portal_key" of postmark client "a" is the "webhook_password" of client "a"/);
fails('portal key equal to a signing secret',
      client('a', "webhook_user u;\nwebhook_password p;\nforward http://h/ {\n"
                  . "signing_secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw; }")
      . client('b', "server_token u;\n"
                    . "portal_key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw; #<"),
      qr/"portal_key" of postmark client "b" is the "signing_secret" of client "a"/);
fails('portal key equal to the admin key',
      client('b', "server_token u;\nportal_key the-agency-admin-key; #<")
      . "postmark_spool %%TESTDIR%%/spool;\n"
      . "server { location /admin/ { postmark_spool_admin the-agency-admin-key; } }",
      qr/"portal_key" of postmark client "b" is the key of "postmark_spool_admin" \(.*:\d+\)/);
fails('missing server_token file',
      client('a', "server_token file=secrets/none; #<"),
      qr/cannot read secret file ".*secrets\/none"/);
fails('empty server_token file',
      client('a', "server_token file=secrets/empty; #<"),
      qr/secret file ".*secrets\/empty" is empty/);
fails('templates in an exact location',
      client('a', $portal) . "server { location = /x { postmark_portal a; #<\n} }",
      qr/"postmark_portal" needs a prefix location, such as "location \/portal\/acme\/postmark\/ \{ postmark_portal acme; \}"/);
fails('templates in a regex location',
      client('a', $portal) . "server { location ~ ^/x { postmark_portal a; #<\n} }",
      qr/"postmark_portal" needs a prefix location/);
fails('templates in a named location',
      client('a', $portal) . "server { location \@x { postmark_portal a; #<\n} }",
      qr/"postmark_portal" needs a prefix location/);
fails('templates of an unknown client',
      client('a', $portal) . "server { location /x { postmark_portal b; #<\n} }",
      qr/unknown postmark client "b"/);
fails('templates of a client without token',
      client('a', "$creds $forward") . "server { location /x { postmark_portal a; #<\n} }",
      qr/postmark client "a" has no "server_token" and "portal_key"/);
fails('templates and webhook in one location',
      client('a', "$creds $forward $portal")
      . "server { location /x { postmark_webhook;\npostmark_portal a; #<\n} }",
      qr/"postmark_portal" directive cannot share a location with the other of "postmark_webhook" and "postmark_portal"/);
fails('templates without client', client('a', $portal)
      . "server { location /x { postmark_portal; #<\n} }",
      qr/invalid number of arguments in "postmark_portal"/);
fails('the old name of postmark_portal',
      client('a', $portal) . "server { location /x/ { postmark_templates a; #<\n} }",
      qr/"postmark_templates" is now "postmark_portal", which serves the client's templates and activity: write "postmark_portal a;"/);
fails('suppressions without activity',
      client('a', "$portal\nsuppressions on; } #<\n#"),
      qr/"suppressions on" of postmark client "a" needs "activity on;"/);
fails('activity without a token',
      client('a', "$creds $forward activity on; } #<\n#"),
      qr/"activity" of postmark client "a" needs "server_token" and "portal_key"/);
fails('a portal that serves nothing',
      client('a', "$portal\ntemplates off; } #<\n#"),
      qr/the portal of postmark client "a" serves nothing: it has "templates off;" and no "activity on;"/);
fails('activity with a bad value',
      client('a', "$portal\nactivity yes; #<"),
      qr/invalid value "yes" in "activity" directive, it must be "on" or "off"/);
for my $case (
    ['ftp API URL', 'ftp://h/', qr/invalid Postmark API URL "ftp:\/\/h\/": write "postmark_api_url https:\/\/api.postmarkapp.com;"/],
    ['API URL with a query', 'https://h/?x=1', qr/invalid Postmark API URL "https:\/\/h\/\?x=1": it may not have a query or credentials/],
    ['API URL with credentials', 'https://u:p@h/', qr/it may not have a query or credentials/],
    ['API URL without host', 'https:///x', qr/invalid Postmark API URL/],
) {
    my ($name, $url, $re) = @$case;
    fails($name, "postmark_api_url $url; #<", $re);
}
fails('API timeout of 0', "postmark_api_timeout 0; #<",
      qr/"postmark_api_timeout" directive must be between 1ms and 10m/);
fails('API timeout too long', "postmark_api_timeout 1h; #<",
      qr/"postmark_api_timeout" directive must be between 1ms and 10m/);
fails('max body size not a size', "postmark_templates_max_body_size big; #<",
      qr/"postmark_templates_max_body_size" directive invalid value/);

# signed, trimmed and TLS forwards
my $d = $t->dir;
for my $name (qw(a b)) {
    system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
           . " -nodes -keyout $d/$name.key -out $d/$name.pem -days 1"
           . " -subj /CN=$name >/dev/null 2>&1") == 0 or die 'openssl';
}
$t->write_file('secrets/whsec', "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
$t->write_file('not-pem', "hello\n");

my $https = "$creds forward https://h/ {";

($rc, $out) = $t->config_test(conf(client('a', "$https
    signing_secret file=secrets/whsec;
    signing_secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;
    remove_fields Geo.IP Content; remove_fields Metadata.internal_id;
    tls_trusted_certificate a.pem; tls_certificate a.pem;
    tls_certificate_key a.key; tls_min_version TLSv1.3;
    proxy http://user:pass\@127.0.0.1:3128; }
    proxy https://proxy.example:3128;")));
is($rc, 0, 'signing, fields, TLS and proxy settings pass') or diag $out;

for my $case (
    ['missing signing secret file', 'signing_secret file=secrets/none;', qr/cannot read secret file ".*secrets\/none"/],
    ['empty signing secret file', 'signing_secret file=secrets/empty;', qr/secret file ".*secrets\/empty" is empty/],
    ['signing secret without prefix', 'signing_secret MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw;', qr/invalid signing secret: write "whsec_" and the base64 of 24 to 64 random bytes/],
    ['signing secret not base64', 'signing_secret whsec_not!base64!at!all!!!!!!!!!!!!!;', qr/invalid signing secret/],
    ['signing secret too short', 'signing_secret whsec_c2hvcnQ=;', qr/invalid signing secret/],
    ['invalid field path', 'remove_fields Geo..IP;', qr/invalid field "Geo\.\.IP"; write member names separated by dots, such as "Geo\.IP"/],
    ['field path with a leading dot', 'remove_fields .IP;', qr/invalid field "\.IP"/],
    ['missing certificate', 'tls_trusted_certificate none.pem;', qr/cannot read certificate file ".*none\.pem"/],
    ['not a certificate', 'tls_trusted_certificate not-pem;', qr/"\S*not-pem" has no certificate in PEM format/],
    ['not a key', 'tls_certificate a.pem; tls_certificate_key a.pem;', qr/"\S*a\.pem" has no unencrypted private key in PEM format/],
    ['bad TLS version', 'tls_min_version TLSv1.1;', qr/invalid value "TLSv1\.1"; write "tls_min_version TLSv1\.2;" or "tls_min_version TLSv1\.3;"/],
    ['ftp proxy', 'proxy ftp://p/;', qr/invalid proxy URL "ftp:\/\/p\/"/],
    ['duplicate proxy', 'proxy http://p/; proxy http://q/;', qr/"proxy" directive is duplicate/],
) {
    my ($name, $line, $re) = @$case;
    fails($name, client('a', "$https\n$line #<\n}"), $re);
}

fails('nine signing secrets',
      client('a', "$https\n" . ("signing_secret file=secrets/whsec;\n" x 8)
             . "signing_secret file=secrets/whsec; #<\n}"),
      qr/"signing_secret" directive is given too often: a destination takes at most 8 secrets/);
fails('33 fields',
      client('a', "$https\nremove_fields " . join(' ', map { "f$_" } 1 .. 33)
             . "; #<\n}"),
      qr/"remove_fields" directive names too many fields: a destination takes at most 32/);
fails('certificate without key',
      client('a', "$https\ntls_certificate a.pem;\n} #<"),
      qr/forward "https:\/\/h\/" needs both "tls_certificate" and "tls_certificate_key"/);
fails('key without certificate',
      client('a', "$https\ntls_certificate_key a.key;\n} #<"),
      qr/needs both "tls_certificate" and "tls_certificate_key"/);
fails('certificate and key that do not match',
      client('a', "$https\ntls_certificate a.pem; tls_certificate_key b.key;\n} #<"),
      qr/"tls_certificate_key" of forward "https:\/\/h\/" is not the key of its "tls_certificate"/);
fails_at_once('a FIFO as tls_certificate',
      client('a', "$https\ntls_certificate secrets/fifo; #<\n"
                  . "tls_certificate_key a.key;\n}"),
      qr/certificate file ".*secrets\/fifo" is not a regular file; write the certificate into a file of its own/);
fails_at_once('a FIFO as tls_certificate_key',
      client('a', "$https\ntls_certificate a.pem;\n"
                  . "tls_certificate_key secrets/fifo; #<\n}"),
      qr/private key file ".*secrets\/fifo" is not a regular file; write the private key into a file of its own/);
fails('TLS settings on http://',
      client('a', "$creds forward http://h/ {\ntls_min_version TLSv1.2;\n} #<"),
      qr/TLS settings of forward "http:\/\/h\/" apply to https:\/\/ destinations only/);

# --- spooled delivery --------------------------------------------------

my $spool = "postmark_spool spool max_size=10m;\n";

($rc, $out) = $t->config_test(conf($spool
    . client('a', "$creds delivery spooled; retry_max_age 1d;
        retry_backoff 1s 1h; max_concurrent 4; circuit_breaker 10 1m;
        forward http://h/a { }
        forward http://h/b { delivery direct; }
        forward http://h/c { max_concurrent 1; circuit_breaker off; }")
    . "server { location /admin/ { postmark_spool_admin "
    . ('k' x 16) . "; } }"));
is($rc, 0, 'spool, delivery settings and administration pass') or diag $out;

fails('spooled without a spool',
      client('a', "$creds forward http://h/ { #<\ndelivery spooled; }"),
      qr/forward "http:\/\/h\/" of postmark client "a" is spooled, but there is no spool; add "postmark_spool \/var\/lib\/nginx\/postmark max_size=1g;" at http level/);
fails('spooled by the client, without a spool',
      client('a', "$creds delivery spooled;\nforward http://h/ { } #<"),
      qr/is spooled, but there is no spool/);

for my $case (
    ['unknown delivery', 'delivery later;', qr/invalid value "later"; write "delivery direct;" or "delivery spooled;"/],
    ['duplicate delivery', 'delivery spooled; delivery direct;', qr/"delivery" directive is duplicate/],
    ['retry_max_age too short', 'retry_max_age 500ms;', qr/"retry_max_age" directive must be between 1s and 30d, such as "retry_max_age 3d;"/],
    ['retry_max_age too long', 'retry_max_age 31d;', qr/must be between 1s and 30d/],
    ['retry_max_age not a time', 'retry_max_age soon;', qr/"retry_max_age" directive invalid value/],
    ['retry_backoff too short', 'retry_backoff 5ms 1s;', qr/invalid "retry_backoff 5ms 1s"; write the first wait, at least 10ms, then the largest, at most 1d, such as "retry_backoff 10s 30m;"/],
    ['retry_backoff backwards', 'retry_backoff 10s 5s;', qr/invalid "retry_backoff 10s 5s"/],
    ['retry_backoff one value', 'retry_backoff 10s;', qr/invalid number of arguments in "retry_backoff" directive/],
    ['max_concurrent 0', 'max_concurrent 0;', qr/invalid value "0"; write a number from 1 to 1024, such as "max_concurrent 8;"/],
    ['max_concurrent too many', 'max_concurrent 5000;', qr/write a number from 1 to 1024/],
    ['circuit_breaker 0', 'circuit_breaker 0;', qr/invalid "circuit_breaker"; write the failures in a row that open it \(1 to 1000\) and the wait before a probe, such as "circuit_breaker 5 30s;", or "circuit_breaker off;"/],
    ['circuit_breaker wait', 'circuit_breaker 5 1ms;', qr/invalid "circuit_breaker"/],
) {
    my ($name, $line, $re) = @$case;
    my $spooled = $name =~ /delivery/ ? '' : "delivery spooled;\n";
    fails("$name in a forward", $spool . client('a', "$creds forward http://h/ {\n$spooled$line #<\n}"), $re);
    fails("$name in a client", $spool . client('a', "$creds $line #<\n$forward"), $re);
}

fails('retry settings in a direct forward',
      client('a', "$creds forward http://h/ { #<\nretry_max_age 1d; }"),
      qr/retry settings of forward "http:\/\/h\/" apply to spooled delivery only; add "delivery spooled;" to it/);
fails('backoff longer than the maximum age',
      $spool . client('a', "$creds delivery spooled; retry_max_age 1m;\n"
                    . "forward http://h/ { #<\nretry_backoff 1s 2m; }"),
      qr/the largest "retry_backoff" wait of forward "http:\/\/h\/" is longer than its "retry_max_age"; shorten the one or lengthen the other/);
fails('spooled forwards told apart only by their query',
      $spool . client('a', "$creds delivery spooled;\nforward http://h/?a=1 { }\n"
                    . "forward http://h/?a=2 { } #<"),
      qr/spooled forwards of postmark client "a" to "http:\/\/h\/" differ only in credentials or query, which the spool does not keep; give them different paths/);

for my $case (
    ['duplicate spool', "postmark_spool a;\npostmark_spool b; #<", qr/"postmark_spool" directive is duplicate/],
    ['spool max_size too small', "postmark_spool a max_size=10k; #<", qr/invalid "max_size=10k"; write the largest size of the spool, at least 1m, such as "max_size=1g"/],
    ['spool unknown parameter', "postmark_spool a size=1g; #<", qr/invalid parameter "size=1g"; write "postmark_spool \/var\/lib\/nginx\/postmark max_size=1g;"/],
    ['spool at the root', "postmark_spool /; #<", qr/invalid spool directory "\/"; write a directory of its own/],
    ['spool in a server', "server { postmark_spool a; #<\n}", qr/"postmark_spool" directive is not allowed here/],
    ['admin key too short', "$spool server { location /a/ { postmark_spool_admin short; #<\n} }", qr/the key of "postmark_spool_admin" is too short; use at least 16 characters, such as the output of "openssl rand -hex 16"/],
    ['admin in an exact location', "$spool server { location = /a { postmark_spool_admin " . ('k' x 16) . "; #<\n} }", qr/"postmark_spool_admin" needs a prefix location, such as "location \/postmark-admin\/ \{ postmark_spool_admin file=\.\.\.; \}"/],
    ['admin in a regex location', "$spool server { location ~ ^/a { postmark_spool_admin " . ('k' x 16) . "; #<\n} }", qr/"postmark_spool_admin" needs a prefix location/],
    ['admin with a webhook', client('a', "$creds $forward") . "$spool server { location /a/ { postmark_webhook; postmark_spool_admin " . ('k' x 16) . "; #<\n} }", qr/"postmark_spool_admin" directive cannot share a location with "postmark_webhook" or "postmark_portal"/],
    ['webhook after admin', client('a', "$creds $forward") . "$spool server { location /a/ { postmark_spool_admin " . ('k' x 16) . "; postmark_webhook; #<\n} }", qr/"postmark_webhook" directive cannot share a location with "postmark_spool_admin"/],
    ['admin without a spool', "server { location /a/ { postmark_spool_admin " . ('k' x 16) . "; #<\n} }", qr/"postmark_spool_admin" needs a spool; add "postmark_spool \/var\/lib\/nginx\/postmark max_size=1g;" at http level/],
) {
    fails(@$case);
}

# clients and destinations in files of their own
$t->write_file('inc/creds.conf', "webhook_user inc;\nwebhook_password secret;\n");
$t->write_file('inc/filter.conf', "events Bounce;\ntimeout 5s;\n");
$t->write_file('inc/client.conf', "postmark_client included {\n"
               . "include inc/creds.conf;\n"
               . "forward http://127.0.0.1:9/hook { include inc/filter.conf; }\n}\n");
($rc, $out) = $t->config_test(conf("include inc/client.conf;\n"
                                   . "server { location / { postmark_webhook included; } }"));
is($rc, 0, '"include" in client and forward blocks') or diag $out;
$t->write_file('inc/wrong.conf', "events Bouncy;\n");
($rc, $out) = $t->config_test(conf(client('a', "$creds forward http://h/ {\n"
                                              . "include inc/wrong.conf;\n}")));
like($out, qr/unknown event type "Bouncy".* in \Q${\ $t->dir }\E\/inc\/wrong\.conf:1$/m,
     'a mistake in an included file names that file and line');

# a client defined after the location that names it is fine
($rc, $out) = $t->config_test(conf(
    "server { location / { postmark_webhook late; } }\n"
    . client('late', "$creds $forward")));
is($rc, 0, 'a client may be defined after the location naming it')
    or diag $out;

done_testing;
