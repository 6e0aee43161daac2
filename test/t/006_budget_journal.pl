# The budget journal: a charge survives kill -9 of the postmaster and a
# restart, and pg_terminate_backend of the query; a torn tail is cut back and
# logged and the server starts; a damaged or tampered record in the middle
# makes privstat refuse to charge (fail closed) with a LOG line saying what
# to do; 8 concurrent pgbench clients against a budget of exactly N queries
# get exactly N answers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

# the postmaster is killed -9 below: reap it here (PrivstatTAP.pm)
become_subreaper();

my $node = analyst_node('budget', budget => 10);
my $journal = $node->data_dir . '/privstat/budget.journal';
my $status = q{SELECT epsilon_spent || '/' || charges FROM privstat.budget_status WHERE role::text = 'analyst'};

sub dp { my ($eps) = @_; return "SELECT privstat.dp_count(i, $eps) FROM t"; }

# replace the journal of the stopped server; return the log of the next start
sub start_with_journal
{
	my ($content) = @_;
	open my $fh, '>', $journal or die;
	binmode $fh;
	print $fh $content;
	close $fh;
	my $offset = -s $node->logfile;
	$node->start;
	return substr(slurp_file($node->logfile), $offset);
}

$node->safe_psql('postgres', dp(0.25), extra_params => [ '-U', 'analyst' ]);
is($node->safe_psql('postgres', $status), '0.25/1', 'one charge');
is(-s $journal, 1024 * 1024, 'journal is preallocated');
is(substr(slurp_file($journal), 2 * 128, 128), "\0" x 128, 'two 128-byte records, then zeros');

# kill -9 of the postmaster: the charge was flushed before the answer left.
# Its orphaned backends notice and exit; until then a new postmaster refuses
# to start on the same data directory.
my $postmaster = $node->{_pid};
$node->kill9;
for (1 .. 100)
{
	last if waitpid($postmaster, WNOHANG) == $postmaster || !kill(0, $postmaster);
	usleep(100_000);
}
for (1 .. 100)
{
	last if system("pgrep -f '^postgres: budget: ' >/dev/null") != 0;
	usleep(100_000);
}
$node->start;
is($node->safe_psql('postgres', $status), '0.25/1', 'charge survives kill -9 of the postmaster and a restart');

# pg_terminate_backend while the query runs: charged at executor start
my $bg = $node->background_psql('postgres', extra_params => [ '-U', 'analyst' ]);
$bg->query_until(qr/started/,
	"\\echo started\nSELECT c, pg_sleep(60) FROM (SELECT privstat.dp_count(i, 0.5) AS c FROM t) s;\n");
my $pid;
for (1 .. 100)
{
	$pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE usename = 'analyst' AND query LIKE '%pg_sleep(60)%'});
	last if $pid;
	usleep(100_000);
}
ok($pid, 'the long DP query is running');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
eval { $bg->quit; };
is($node->safe_psql('postgres', $status), '0.75/2', 'charge survives pg_terminate_backend of its query');

# a torn tail: a crash in the middle of an append (half a record at the end)
$node->stop('immediate');
open my $fh, '+<', $journal or die;
binmode $fh;
seek $fh, 3 * 128, 0;
print $fh "\x50\x53\x42\x4a" . ("\x11" x 59);
close $fh;
my $offset = -s $node->logfile;
$node->start;
my $log = substr(slurp_file($node->logfile), $offset);
like($log, qr/privstat budget journal "privstat\/budget\.journal": cut a torn tail of \d+ bytes after record 3/,
	'a torn tail is cut back and logged');
is(substr(slurp_file($journal), 3 * 128, 128), "\0" x 128, 'the torn record is zeroed');
is($node->safe_psql('postgres', $status), '0.75/2', 'spends are intact after the cut');
$node->safe_psql('postgres', dp(0.25), extra_params => [ '-U', 'analyst' ]);
is($node->safe_psql('postgres', $status), '1/3', 'charging works after the cut');

# a damaged record followed by intact ones near the end is what a power loss
# with grouped flushes leaves (none of them was acknowledged): it is cut
$node->stop;
my $before_cut = slurp_file($journal);
my $holed = $before_cut;
substr($holed, 3 * 128 + 40, 1) = chr(ord(substr($holed, 3 * 128 + 40, 1)) ^ 0x01);
$offset = -s $node->logfile;
open $fh, '>', $journal or die;
binmode $fh;
print $fh $holed;
close $fh;
$node->start;
$log = substr(slurp_file($node->logfile), $offset);
like($log, qr/cut a torn tail of \d+ bytes after record 3/, 'a hole near the end is cut like a torn tail');
# the audit trail still holds the charge after the hole: it is restored, so
# a hole never refunds (at worst a charge whose query released nothing stays)
like($log, qr/budget journal ended at record 3: restored 1 of its records up to 3 from the audit trail/,
	'the record the trail holds is restored');
is($node->safe_psql('postgres', $status), '1/3', 'no spend comes back');
$node->stop;
open $fh, '>', $journal or die;
binmode $fh;
print $fh $before_cut;
close $fh;
$node->start;

# many more charges, so that damage can lie farther from the end than MaxBackends records
$node->safe_psql('postgres', "SELECT privstat.dp_count(i, 0.01) FROM t;\n" x 300,
	extra_params => [ '-U', 'analyst' ]);
is($node->safe_psql('postgres', $status), '4/303', '300 more charges (more than MaxBackends)');

# a damaged record far from the end: fail closed
$node->stop;
my $good = slurp_file($journal);
my $bad = $good;
substr($bad, 128 + 40, 1) = chr(ord(substr($bad, 128 + 40, 1)) ^ 0x01);
$log = start_with_journal($bad);
like($log, qr/privstat budget journal "privstat\/budget\.journal" is corrupt at record 1: privstat refuses to charge/,
	'a damaged record in the middle is logged');
like($log, qr/HINT:  Restore the journal from a backup and restart/, 'the log says what to do');
my ($ret, $out, $err) = $node->psql('postgres', dp(0.1), extra_params => [ '-U', 'analyst' ]);
like($err, qr/privstat refuses to charge privacy budgets: the budget journal is corrupt/,
	'DP queries are refused while the journal is corrupt');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '1000', 'other queries still run');

# tampering that keeps each record's CRC right: the HMAC chain catches it
$node->stop;
$bad = $good;
# swap records 2 and 3: both intact, out of order
substr($bad, 2 * 128, 128) = substr($good, 3 * 128, 128);
substr($bad, 3 * 128, 128) = substr($good, 2 * 128, 128);
$log = start_with_journal($bad);
like($log, qr/is corrupt at record 2.*\n.*DETAIL:  a record's HMAC or position does not match the chain/,
	'two swapped records are detected');

# a record removed from the middle
$node->stop;
$log = start_with_journal(substr($good, 0, 128) . substr($good, 2 * 128) . ("\0" x 128));
like($log, qr/is corrupt at record 1/, 'a removed record is detected');

# restore the good journal: charging resumes where it was
$node->stop;
start_with_journal($good);
is($node->safe_psql('postgres', $status), '4/303', 'the restored journal restores the ledger');

# stress: 8 clients, 25 tries each, against a budget of exactly 50 queries
$node->safe_psql('postgres', q{
	SELECT privstat.set_budget('analyst', 0.5);
	SELECT privstat.reset_budget('analyst');
	CREATE TABLE wins (n int);
	GRANT INSERT ON wins TO analyst;
});
my $script = PostgreSQL::Test::Utils::tempdir . '/dp.sql';
open $fh, '>', $script or die;
print $fh q{DO $$ BEGIN PERFORM privstat.dp_count(i, 0.01) FROM t; INSERT INTO wins VALUES (1); }
  . q{EXCEPTION WHEN insufficient_resources THEN NULL; END $$;} . "\n";
close $fh;
$node->command_ok([ 'pgbench', '-n', '-c', '8', '-j', '2', '-t', '25', '-f', $script,
		'-U', 'analyst', '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench: 8 clients x 25 DP queries');
is($node->safe_psql('postgres', 'SELECT count(*) FROM wins'), '50', 'exactly 50 of 200 queries were answered');
is($node->safe_psql('postgres', $status), '0.5/50', 'exactly the budget was spent, never more');
$node->restart;
is($node->safe_psql('postgres', $status), '0.5/50', 'and the journal agrees after a restart');

# a journal with more roles than privstat.max_roles: the server still starts,
# and privstat fails closed with a LOG line saying what to raise
$node->safe_psql('postgres', join('', map { "CREATE ROLE r$_; SELECT privstat.set_budget('r$_', 1);\n" } 1 .. 16));
$node->append_conf('postgresql.conf', 'privstat.max_roles = 16');
$offset = -s $node->logfile;
$node->restart;
$log = substr(slurp_file($node->logfile), $offset);
like($log, qr/more roles than privstat\.max_roles; raise it and restart/, 'too small a ledger is logged');
($ret, $out, $err) = $node->psql('postgres', dp(0.1), extra_params => [ '-U', 'analyst' ]);
like($err, qr/refuses to charge privacy budgets/, 'and DP queries are refused, the server running');

done_testing();
