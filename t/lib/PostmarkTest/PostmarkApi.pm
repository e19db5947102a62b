package PostmarkTest::PostmarkApi;

# A stand-in for Postmark's Templates API, served by PostmarkTest::Standin
# (so it records exactly what it received, and can be slow, fail or reset
# like any stand-in).  It answers as Postmark does: 401 with ErrorCode 10
# for a wrong server token, 422 with ErrorCode 1101 for a template that is
# not this server's, and the sample answers of Postmark's documentation
# for the calls it knows.

use strict;
use warnings;

use PostmarkTest qw(payload);

# the templates of the stand-in server, by id and by alias
my %mine = map { $_ => 1 } qw(1234 5678 welcome-v1 password-recovery
                              my-layout);

sub error {
    my ($status, $code, $message) = @_;
    $message =~ s/"/\\"/g;
    return ($status, { 'Content-Type' => 'application/json; charset=utf-8',
                       'X-PM-ApiErrorCode' => $code,
                       'Set-Cookie' => 'session=stand-in; Path=/' },
            qq({"ErrorCode":$code,"Message":"$message"}));
}

sub ok {
    my ($name) = @_;
    return (200, { 'Content-Type' => 'application/json; charset=utf-8',
                   'Set-Cookie' => 'session=stand-in; Path=/' },
            payload($name));
}

# handler(tokens => ['the real server token', ...])
sub handler {
    my (%opt) = @_;
    my %token = map { $_ => 1 } @{ $opt{tokens} || die 'tokens are required' };

    return sub {
        my ($req, $mode) = @_;
        my ($path) = split /\?/, $req->{path};

        if (!$token{ $req->{headers}{'x-postmark-server-token'} // '' }) {
            return error(401, 10, 'Request does not contain a valid Server '
                         . 'or Account token, or the wrong token type was '
                         . 'used for the endpoint.');
        }

        if ($mode->{status} >= 500) {
            return error($mode->{status}, 100, 'Maintenance');
        }

        my $m = $req->{method};
        my ($item) = $path =~ m{^/templates/([^/]+)$};

        return ok('templates-list') if $m eq 'GET' && $path eq '/templates';
        return ok('template-create-response')
            if $m eq 'POST' && $path eq '/templates';
        return ok('template-validate-response')
            if $m eq 'POST' && $path eq '/templates/validate';

        if (defined $item) {
            return error(422, 1101, 'The TemplateId,  LayoutTemplate, or '
                         . 'Alias references a Template that does not exist, '
                         . 'or is not associated with the Server specified '
                         . 'for this request.') unless $mine{$item};
            return ok('template-get') if $m eq 'GET';
            return ok('template-create-response') if $m eq 'PUT';
            return ok('template-delete-response') if $m eq 'DELETE';
        }

        return error(404, 0, 'Not found.');
    };
}

1;
