package PostmarkTest::PostmarkApi;

# A stand-in for Postmark's API as a client's portal uses it, served by
# PostmarkTest::Standin (so it records exactly what it received, and can be
# slow, fail or reset like any stand-in).  It answers as Postmark does: 401
# with ErrorCode 10 for a wrong server token; for the Templates API the
# sample answers of Postmark's documentation, 422 with ErrorCode 1101 for a
# template that is not this server's; for the activity APIs (messages,
# bounces, stats, message streams) answers shaped as Postmark's, a Bounce ID
# beyond 2^53 among them, and 422 with Postmark's codes for ids it does not
# know.  Paths match without regard to case, as Postmark's do.

use strict;
use warnings;

use PostmarkTest qw(payload read_file repo_root);

# the templates of the stand-in server, by id and by alias
my %mine = map { $_ => 1 } qw(1234 5678 welcome-v1 password-recovery
                              my-layout);

my $MESSAGE = '0ac29aee-e1cd-480d-b08d-4f48548ff48d';
my $INBOUND = '73e6d360-66eb-11e1-8e72-a8904824019b';
my $BOUNCE = '4323372036854775807';

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

# an answer of the activity APIs, from t/data/api
sub api {
    my ($name) = @_;
    my $body = read_file(repo_root() . "/t/data/api/$name.json");
    die "no answer $name" if $body eq '';
    chomp $body;
    return (200, { 'Content-Type' => 'application/json; charset=utf-8',
                   'Set-Cookie' => 'session=stand-in; Path=/' }, $body);
}

# what the activity APIs answer, by path
sub activity {
    my ($m, $path) = @_;
    return if $m ne 'GET';

    my %fixed = (
        '/messages/outbound' => 'outbound-messages',
        '/messages/outbound/opens' => 'opens',
        '/messages/outbound/clicks' => 'clicks',
        '/messages/inbound' => 'inbound-messages',
        '/deliverystats' => 'delivery-stats',
        '/bounces' => 'bounces',
        '/stats/outbound' => 'stats-overview',
        '/message-streams' => 'message-streams',
    );
    return api($fixed{$path}) if $fixed{$path};
    return api('stats-days') if $path =~ m{^/stats/outbound/[a-z/]+$};

    if ($path =~ m{^/messages/(outbound|inbound)(?:/(opens|clicks))?/([0-9a-f-]{36})(?:/(details|dump))?$}) {
        my ($dir, $track, $id, $what) = ($1, $2, $3, $4);
        return error(422, 701, 'This message was not found.')
            unless $id eq ($dir eq 'inbound' ? $INBOUND : $MESSAGE);
        return api($track) if $track && !$what;
        return api($dir eq 'inbound' ? 'inbound-details' : 'message-details')
            if ($what // '') eq 'details';
        return api('message-dump') if ($what // '') eq 'dump';
    }

    if ($path =~ m{^/bounces/(\d+)(/dump)?$}) {
        return error(422, 1001, 'The BounceID or MessageID you are searching '
                     . 'with is invalid.') unless $1 eq $BOUNCE;
        return api($2 ? 'bounce-dump' : 'bounce');
    }

    if ($path =~ m{^/message-streams/([^/]+)(/suppressions/dump)?$}) {
        return error(422, 1226, 'The message stream for the provided ID was '
                     . 'not found.') unless $1 eq 'outbound';
        return api($2 ? 'suppressions' : 'message-stream');
    }

    return;
}

# handler(tokens => ['the real server token', ...])
sub handler {
    my (%opt) = @_;
    my %token = map { $_ => 1 } @{ $opt{tokens} || die 'tokens are required' };

    return sub {
        my ($req, $mode) = @_;
        my ($path) = split /\?/, $req->{path};
        $path = lc $path;

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

        my @answer = activity($m, $path);
        return @answer if @answer;

        return error(404, 0, 'Not found.');
    };
}

1;
