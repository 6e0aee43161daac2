# Disk full: privstat's files (the budget journal and the audit trail) on a
# small tmpfs that fills up.  A query whose records cannot be stored must
# fail before its charge: every charge has its answer and its audit event,
# and once space is back the next query is charged and recorded as usual.
# Needs a tmpfs the test user can write, which test/run.sh mounts as root
# (PRIVSTAT_TINYFS); skipped, saying so, without one.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

my $fs = $ENV{PRIVSTAT_TINYFS};
plan skip_all => 'no small tmpfs to fill (test/run.sh mounts one as root: PRIVSTAT_TINYFS)'
  unless defined $fs && -d $fs && -w $fs;

# $PGDATA/privstat (journal and trail) on the small file system
my $node = analyst_node('diskfull', budget => 100000, before_start => sub {
	mkdir "$fs/privstat", 0700 or die "mkdir: $!";
	symlink "$fs/privstat", $_[0]->data_dir . '/privstat' or die "symlink: $!";
});

# a query whose normalized text fills about 13 audit text records, so the
# trail needs new space every ~150 queries
my $query = 'SELECT privstat.dp_count(i, 0.01) FROM t WHERE ' . join(' AND ', ('i IS NOT NULL') x 60);
# true if the query answered; dies on any error but a full disk's
sub run_query
{
	my ($ret, $out, $err) = $node->psql('postgres', $query, extra_params => [ '-U', 'analyst' ]);
	return 1 if $ret == 0;
	die "unexpected error: $err" unless $err =~ /could not (extend|write|create) privstat/;
	return 0;
}
sub charges
{
	return $node->safe_psql('postgres',
		q{SELECT charges FROM privstat.budget_status WHERE role = 'analyst'::regrole});
}
sub charge_events
{
	return $node->safe_psql('postgres', q{SELECT count(*) FROM privstat.audit_log WHERE event = 'charge'});
}

ok(run_query(), 'a DP query runs with privstat\'s files on the small file system');

sub fill { open my $f, '>', "$fs/filler" or die "filler: $!"; my $b = "\0" x 65536; 1 while syswrite($f, $b); close $f; }
sub unfill { unlink "$fs/filler" or die "unlink: $!"; }

# Fill the disk, then run queries until five fail: each failure must be one
# of a full disk (run_query dies otherwise) and must charge nothing.
my $errors = '';
my $journal = "$fs/privstat/budget.journal";
my $segment = "$fs/privstat/audit/0000000000000001";
sub until_full
{
	my ($what) = @_;
	my $before = charges();
	my ($answered, $failed) = (0, 0);
	fill();
	for (1 .. 600)
	{
		my ($ret, $out, $err) = $node->psql('postgres', $query, extra_params => [ '-U', 'analyst' ]);
		if ($ret == 0) { $answered++; next; }
		die "unexpected error: $err" unless $err =~ /could not (extend|write|create) privstat/;
		$errors .= $err;
		last if ++$failed >= 5;
	}
	cmp_ok($failed, '>=', 5, "$what: queries fail once the disk is full ($answered answered before)");
	is(charges(), $before + $answered, "$what: every charge has its answer: no query that failed for space was charged");
	is(charge_events(), charges(), "$what: every charge is in the audit trail");
	is($node->safe_psql('postgres', q{SELECT ok FROM privstat.verify_audit_log()}), 't', "$what: the trail verifies");
	is((-s $journal) % (1024 * 1024), 0, "$what: the journal holds no partial chunk of a failed extension");
	is((-s $segment) % (256 * 1024), 128, "$what: nor does the trail's segment (its header and whole chunks)");
	unfill();
	ok(run_query(), "$what: with space back, the next query runs");
	is(charges(), $before + $answered + 1, "$what: ... is charged once");
	is(charge_events(), charges(), "$what: ... and recorded");
}

# the audit trail cannot grow (long query texts fill it fastest)
until_full('trail full');
like($errors, qr/could not extend privstat audit segment/, 'the trail\'s segment was the one that could not grow');

# the budget journal cannot grow: bring it to the end of its preallocated
# space (budget changes take one record each), then fill the disk
my ($records) = $node->safe_psql('postgres', 'SELECT records FROM privstat.budget_journal_status()');
my $chunk = 1024 * 1024 / 128;
my $left = $chunk - $records % $chunk;
$node->safe_psql('postgres',
	"SELECT count(privstat.set_budget('analyst', 100000)) FROM generate_series(1, $left - 2)") if $left > 2;
$errors = '';
until_full('journal full');
like($errors, qr/could not extend privstat budget journal/, 'the journal was the one that could not grow');

my $events = charge_events();
$node->restart;
is(charge_events(), $events, 'after a restart the trail holds the same charges (nothing to recover)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privstat.audit_log WHERE operation = 'recovered'}),
	'0', 'no event was missing from the trail');

$node->stop;
done_testing();
