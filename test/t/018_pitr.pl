# Point-in-time recovery: a base backup plus archived WAL restores the
# budget ledger and the audit trail as of the recovery target (the charges
# before it replayed from the WAL, none after it), and going back in time is
# a deliberate act: the restored server logs it and refuses to charge until
# a superuser adopts its journal.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

my $primary = charged_node('primary', budget => 100,
	init => { has_archiving => 1, allows_streaming => 1 });
$primary->backup('base');

sub spent
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT epsilon_spent || '/' || charges FROM privstat.budget_status WHERE role::text = current_user});
}

# after the backup: two charges before the target, one after it
$primary->safe_psql('postgres', 'SELECT privstat.dp_count(i, 2) FROM t');
$primary->safe_psql('postgres', 'SELECT privstat.dp_count(i, 4) FROM t');
$primary->safe_psql('postgres', q{CREATE TABLE marker AS SELECT 1 AS m});    # a commit to stop after
my $target = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
$primary->safe_psql('postgres', 'SELECT privstat.dp_count(i, 8) FROM t');
is(spent($primary), '15/4', 'the primary charged four times');
$primary->safe_psql('postgres', 'SELECT pg_switch_wal()');
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->poll_query_until('postgres',
	q{SELECT last_archived_wal IS NOT NULL AND last_failed_wal IS NULL FROM pg_stat_archiver})
  or die 'WAL was not archived';
$primary->stop;

my $restored = node_from_backup('restored', $primary, 'base', has_restoring => 1);
$restored->append_conf('postgresql.conf', "recovery_target_lsn = '$target'\n"
	  . "recovery_target_inclusive = off    # stop before the record at the target, the later charge\n"
	  . "recovery_target_action = 'promote'");
$restored->start;
$restored->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'recovery did not end';

is(spent($restored), '7/3', 'the ledger is as of the recovery target: the charges before it replayed from the WAL');
is($restored->safe_psql('postgres',
		q{SELECT string_agg(epsilon::text, ',' ORDER BY seq) FROM privstat.audit_log WHERE event = 'charge'}),
	'1,2,4', 'the audit trail too, with no charge after the target');
like(slurp_file($restored->logfile), qr/privstat: recovery stopped at its target: privstat refuses to charge privacy budgets/,
	'going back in time is logged');
my ($ret, $out, $err) = $restored->psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t');
like($err, qr/spends may be missing from the budget journal/, 'and no charge is made until someone decides');
$restored->safe_psql('postgres', q{
	SELECT privstat.adopt_budget_journal();
	SELECT privstat.record_spend(current_user::regrole, 8);
	SELECT privstat.dp_count(i, 1) FROM t;
});
is(spent($restored), '16/5', 'after adopting and recording the charge made after the target, charging goes on');
is($restored->safe_psql('postgres', 'SELECT ok FROM privstat.verify_audit_log()'), 't', 'the trail verifies');

$restored->stop;
done_testing();
