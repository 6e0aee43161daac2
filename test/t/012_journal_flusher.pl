# The budget journal's flusher, before it is lazy (019_journal_lazy tests
# lazy mode).  A charge is written at executor start and made durable while
# its query runs; nothing that depends on it may leave the backend before it
# is.  The flusher is stopped (SIGSTOP) before the first charge, so it never
# goes lazy: each charge's journal record must be synced, nothing syncs in
# the background, and each check below fails if the backend skipped its own
# wait:
#  - a DP answer: the aggregate waits before it draws its noise (seen from a
#    subquery evaluated in the same row, after the aggregate);
#  - a grouped DP query with no groups, which draws no noise: ExecutorRun
#    waits before it returns;
#  - an error after the charge: the backend syncs before it reports it;
#  - cursors: a declared cursor's charge is written, not yet durable, until
#    the backend's next charge or statement (at most one record per backend
#    is ever not durable: the journal's torn-tail rule relies on it).
# Then the flusher catches up on its own when resumed, is restarted after
# SIGTERM, and charges never wait for it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

my $node = PostgreSQL::Test::Cluster->new('flusher');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'\n"
	  . "privstat.release_cache_ttl = 0    # every repeated query is a new charge here");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION privstat;
	CREATE TABLE t AS SELECT g AS i, g % 3 AS k FROM generate_series(1, 1000) g;
	CREATE TABLE empty (i int, k int);
	SELECT privstat.set_budget(current_user::regrole, 'infinity');
});

# "records written - records durable" and the flusher's pid
my $pending = q{SELECT records - durable_records FROM privstat.budget_journal_status()};
sub flusher_pid
{
	return $node->safe_psql('postgres', 'SELECT flusher_pid FROM privstat.budget_journal_status()');
}

ok($node->poll_query_until('postgres', q{SELECT flusher_pid IS NOT NULL FROM privstat.budget_journal_status()}),
	'the journal flusher runs');
my $pid = flusher_pid();
is($node->safe_psql('postgres', $pending), '0', 'every record durable at rest');

# an idle flusher (waiting on its latch, holding no lock) is stopped
kill 'STOP', $pid or die "cannot stop the flusher: $!";

charge_waits($node, $pending);

is($node->safe_psql('postgres', qq{
	BEGIN;
	DECLARE c3 CURSOR FOR SELECT privstat.dp_count(i, 0.5) FROM t;
	CLOSE c3;
	COMMIT;
	$pending;
}), '1', 'a cursor closed unfetched leaves its charge to the flusher');

kill 'CONT', $pid or die "cannot resume the flusher: $!";
ok($node->poll_query_until('postgres', $pending, '0'), 'the resumed flusher makes it durable on its own');

# restarted after SIGTERM (bgw_restart_time 1 s, as after a superuser's
# pg_terminate_backend); charges go on meanwhile.  It was lazy since it was
# resumed: it syncs what it left unsynced as it exits.
kill 'TERM', $pid or die "cannot terminate the flusher: $!";
$node->safe_psql('postgres', 'SELECT privstat.dp_count(i, 0.5) FROM t');
ok($node->poll_query_until('postgres',
		qq{SELECT coalesce(flusher_pid, 0) NOT IN (0, $pid) FROM privstat.budget_journal_status()}),
	'a terminated flusher is restarted');
is($node->safe_psql('postgres', qq{
	SELECT privstat.dp_count(i, 0.5) IS NOT NULL, ($pending) FROM t;
}), 't|0', 'charges after the restart');
is($node->safe_psql('postgres', q{SELECT charges FROM privstat.budget_status WHERE role = current_user::regrole}),
	'8', 'eight charges, all counted');

# only administrators and auditors read the journal's progress
$node->safe_psql('postgres', 'CREATE ROLE nobody LOGIN');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM privstat.budget_journal_status()',
	extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied for function budget_journal_status/, 'others may not read it');

$node->stop;
done_testing();
