# The budget journal's lazy mode.  While the journal flusher is lazy, a
# charge is durable once its WAL record is flushed (by the charging backend,
# sharing the flush with commits), and the flusher syncs the journal itself
# every privstat.journal_sync_delay (60 s here, so nothing is synced on time
# in this test), recording how far in privstat/budget.synced.  Checked:
#  - a charge is durable (its WAL record) before its answer, with the journal
#    not synced: with the flusher stopped (SIGSTOP) too, in each place the
#    backend waits (the aggregate, a query with no groups, an error,
#    cursors);
#  - a checkpoint completes only after the flusher synced every record
#    written before its redo point: CHECKPOINT waits for a stopped flusher,
#    and has the journal synced when it returns.  Crash recovery replays the
#    WAL from that point only, so this is what keeps a record whose WAL
#    record lies before it;
#  - the flusher, terminated while lazy, syncs everything as it exits;
#  - a crash that loses what the flusher had not synced (a damaged record
#    right after the synced ones, hundreds of intact ones after it, more than
#    the strict torn-tail rule allows) cuts that tail and gets every charge
#    back: nothing refunds, and privstat does not fail closed;
#  - the journal and the whole audit trail removed while the server is
#    stopped: budget.synced says records are missing, and privstat refuses
#    to charge (it used to start from an empty journal).
# The WAL writer sleeps 10 s (it flushes only full pages and asynchronous
# commits anyway), so only the charging backends flush the charges' WAL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run;
use File::Path;
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

my $node = preloaded_node('lazy',
	conf => "privstat.journal_sync_delay = '60s'\nwal_writer_delay = '10s'\n");
$node->safe_psql('postgres', q{
	CREATE EXTENSION privstat;
	CREATE TABLE t AS SELECT g AS i, g % 3 AS k FROM generate_series(1, 1000) g;
	CREATE TABLE empty (i int, k int);
	SELECT privstat.set_budget(current_user::regrole, 'infinity');
});
my $journal = $node->data_dir . '/privstat/budget.journal';
my $mark = $node->data_dir . '/privstat/budget.synced';

my $pending = q{SELECT records - durable_records FROM privstat.budget_journal_status()};

sub records
{
	return $node->safe_psql('postgres', 'SELECT records FROM privstat.budget_journal_status()');
}

# budget.synced: magic and format (4 bytes each), then the records synced (8)
sub synced
{
	return unpack('Q<', substr(slurp_file($mark), 8, 8));
}

sub charge
{
	$node->safe_psql('postgres', 'SELECT privstat.dp_count(i, 0.5) FROM t');
}

ok($node->poll_query_until('postgres', q{SELECT flusher_pid IS NOT NULL FROM privstat.budget_journal_status()}),
	'the journal flusher runs');
my $pid = $node->safe_psql('postgres', 'SELECT flusher_pid FROM privstat.budget_journal_status()');

# A charge made while the flusher is not lazy wakes it: it syncs that record
# and goes lazy; from then on charges are not synced in the journal.
my $synced_records = q{SELECT synced_records FROM privstat.budget_journal_status()};
my $n;
for (1 .. 50)
{
	charge();
	$n = records();
	last if $node->safe_psql('postgres', $synced_records) < $n;
	usleep(100_000);
}
cmp_ok($node->safe_psql('postgres', $synced_records), '<', $n,
	'lazy: the journal is not synced after each charge');
charge() for 1 .. 3;
$n = records();
cmp_ok($node->safe_psql('postgres', $synced_records), '<', $n, 'nor after the next ones');
is($node->safe_psql('postgres', $pending), '0', 'every charge is durable by its WAL record');
cmp_ok(synced(), '<', $n, 'budget.synced is behind too');

$node->safe_psql('postgres', 'CHECKPOINT');
is($node->safe_psql('postgres', $synced_records), $n,
	'a checkpoint completes only after the flusher synced every record before it');
is(synced(), $n, 'and noted it in budget.synced');

# the flusher stopped while lazy: every wait is the backend's own WAL flush
charge();
kill 'STOP', $pid or die "cannot stop the flusher: $!";

charge_waits($node, $pending);

# a checkpoint started now waits for the stopped flusher
$n = records();
cmp_ok($node->safe_psql('postgres', $synced_records), '<', $n, 'charges the stopped flusher has not synced');
my ($cout, $cerr) = ('', '');
my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'CHECKPOINT' ],
	'>', \$cout, '2>', \$cerr);
my $checkpoint_wait =
  q{SELECT wait_event FROM pg_stat_activity WHERE query = 'CHECKPOINT' AND state = 'active'};
ok($node->poll_query_until('postgres', $checkpoint_wait, 'CheckpointDone'),
	'a checkpoint waits for the stopped flusher');
sleep 1;
is($node->safe_psql('postgres', $checkpoint_wait), 'CheckpointDone', 'and still waits a second later');
kill 'CONT', $pid or die "cannot resume the flusher: $!";
$h->finish;
is($cout, "CHECKPOINT\n", 'and completes once it is resumed');
is($node->safe_psql('postgres', $synced_records), $n, 'with every record synced');

# a lazy flusher that exits (SIGTERM, as pg_terminate_backend) syncs what it
# left unsynced before it lets go of checkpoints; it is restarted
charge() for 1 .. 3;
$n = records();
cmp_ok($node->safe_psql('postgres', $synced_records), '<', $n, 'charges not yet synced');
kill 'TERM', $pid or die "cannot terminate the flusher: $!";
# before the postmaster restarts it (bgw_restart_time 1 s): what it synced itself
ok($node->poll_query_until('postgres', q{SELECT flusher_pid IS NULL FROM privstat.budget_journal_status()}),
	'the flusher exits');
is($node->safe_psql('postgres', $synced_records), $n, 'it synced every record as it exited');
is(synced(), $n, 'and noted it in budget.synced');
ok($node->poll_query_until('postgres',
		qq{SELECT coalesce(flusher_pid, 0) NOT IN (0, $pid) FROM privstat.budget_journal_status()}),
	'the flusher is restarted');
$pid = $node->safe_psql('postgres', 'SELECT flusher_pid FROM privstat.budget_journal_status()');

# A crash that loses what the flusher had not synced: more charges than the
# strict torn-tail rule allows after a hole, then the first unsynced record
# damaged, the others intact.
my $max = $node->safe_psql('postgres', q{
	SELECT current_setting('max_connections')::int + current_setting('autovacuum_max_workers')::int
		+ current_setting('max_worker_processes')::int + current_setting('max_wal_senders')::int + 1
});
$node->safe_psql('postgres', qq{
	DO \$\$ BEGIN
		FOR n IN 1 .. $max + 20 LOOP PERFORM privstat.dp_count(i, 0.5) FROM t; END LOOP;
	END \$\$;
});
$n = records();
my $s = synced();
cmp_ok($n - $s, '>', $max + 1, 'more unsynced records than MaxBackends');
my $charges = $node->safe_psql('postgres',
	q{SELECT charges FROM privstat.budget_status WHERE role = current_user::regrole});
$node->stop('immediate');
open my $fh, '+<', $journal or die;
binmode $fh;
seek $fh, $s * 128, 0;
print $fh "\x50\x53\x42\x4a" . ("\x11" x 59);
close $fh;
my $offset = -s $node->logfile;
$node->start;
my $log = substr(slurp_file($node->logfile), $offset);
like($log, qr/cut a torn tail of \d+ bytes after record $s\b.*\n.*DETAIL:  The operating system stopped before the journal flusher synced them/,
	'the unsynced tail is cut, not taken for tampering');
unlike($log, qr/is corrupt/, 'the journal is not called corrupt');
is($node->safe_psql('postgres',
	q{SELECT charges FROM privstat.budget_status WHERE role = current_user::regrole}),
	$charges, 'every charge is back');
is(records(), $n, 'every record is back in the journal');
is($node->safe_psql('postgres', 'SELECT privstat.dp_count(i, 0.5) IS NOT NULL FROM t'), 't',
	'charging goes on');

# The journal and the whole audit trail removed while the server is stopped:
# budget.synced still says how many records the journal had synced, so
# nothing looks like a new journal and no spend comes back.
$node->safe_psql('postgres', 'CHECKPOINT');
$n = synced();
$node->stop;
unlink $journal or die "cannot remove the journal: $!";
File::Path::rmtree($node->data_dir . '/privstat/audit');
$offset = -s $node->logfile;
$node->start;
$log = substr(slurp_file($node->logfile), $offset);
my $last = $n - 1;
like($log, qr/privstat budget journal records 0 to $last are lost: privstat refuses to charge privacy budgets/,
	'a journal removed with the trail: its records are marked lost');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT privstat.dp_count(i, 0.5) FROM t');
like($err, qr/privstat refuses to charge privacy budgets: spends may be missing from the budget journal/,
	'and privstat refuses to charge, not to start from nothing');

# the same after a crash (pg_control says the server was running): the
# startup compares with the mark as well
$node->safe_psql('postgres', q{
	SELECT privstat.adopt_budget_journal();
	SELECT privstat.set_budget(current_user::regrole, 'infinity');
	SELECT privstat.dp_count(i, 0.5) FROM t;
	CHECKPOINT;
});
$n = synced();
$node->stop('immediate');
unlink $journal or die "cannot remove the journal: $!";
File::Path::rmtree($node->data_dir . '/privstat/audit');
$offset = -s $node->logfile;
$node->start;
$log = substr(slurp_file($node->logfile), $offset);
$last = $n - 1;
like($log, qr/privstat budget journal records 0 to $last are lost/,
	'after a crash too, a journal removed with the trail: its records are marked lost');
($ret, $out, $err) = $node->psql('postgres', 'SELECT privstat.dp_count(i, 0.5) FROM t');
like($err, qr/spends may be missing from the budget journal/, 'and privstat refuses to charge');

$node->stop;
done_testing();
