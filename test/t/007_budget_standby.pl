# Budgets and replication: every budget journal record is in the WAL, so a
# hot standby's budget_status and audit trail are current (a spend made after
# its base backup included), while it refuses DP queries and unseals, naming
# the primary; with synchronous replication an answer leaves only once the
# standby has its charge; and a promoted standby charges at once, from the
# same figures.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

my $primary = charged_node('primary', budget => 10, init => { allows_streaming => 1 });
$primary->backup('base');
# a spend after the backup: the standby gets it from the WAL
$primary->safe_psql('postgres', 'SELECT privstat.dp_count(i, 2) FROM t');

my $standby = node_from_backup('standby', $primary, 'base', has_streaming => 1);
# a charge's WAL record is written by the WAL writer (no commit flushes it):
# wait for the standby to replay up to where WAL was inserted
sub catch_up
{
	my $lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$primary->wait_for_catchup($standby, 'replay', $lsn);
	return;
}

$standby->start;
catch_up();

my ($ret, $out, $err) = $standby->psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t');
like($err, qr/privacy budgets cannot be charged or changed on a hot standby/, 'a hot standby refuses DP queries');
my $primary_at = $primary->host . ':' . $primary->port;
like($err, qr/HINT:  Run DP queries and budget changes on the primary, \Q$primary_at\E \(where this standby receives its WAL from\)/,
	'and says where to run them: the primary, as its WAL receiver sees it');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT privstat.unseal(privstat.seal('ann@example.com'))});
like($err, qr/values cannot be unsealed on a hot standby/, 'a hot standby refuses to unseal (its audit trail is its own)');
like($err, qr/HINT:  Unseal on the primary, \Q$primary_at\E/, '... and names the primary');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '100', 'other queries run on the standby');

# the journal in the WAL: the standby is current
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent || '/' || charges FROM privstat.budget_status WHERE role::text = current_user}),
	'3/2', 'the standby\'s budget_status has the spend made after its base backup (replayed from the WAL)');
$primary->safe_psql('postgres', 'SELECT privstat.dp_count(i, 0.5) FROM t');
catch_up();
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent || '/' || charges FROM privstat.budget_status WHERE role::text = current_user}),
	'3.5/3', '... and each new charge as it is replayed');
is($standby->safe_psql('postgres',
		q{SELECT count(*) || '/' || count(*) FILTER (WHERE query LIKE '%dp_count%') FROM privstat.audit_log WHERE event = 'charge' AND operation IS NULL}),
	'3/3', 'the standby\'s audit trail has every charge, with its query text');
is($standby->safe_psql('postgres', 'SELECT ok FROM privstat.verify_audit_log()'), 't', 'and verifies');

# the trail's other events too: an unseal, a key rotation (a configuration change)
my $others = q{SELECT string_agg(event || ':' || coalesce(count::text, ''), ',' ORDER BY seq)
	FROM privstat.audit_log WHERE event IN ('unseal', 'key_rotation', 'policy_change', 'purge', 'refusal')};
$primary->safe_psql('postgres', q{
	SELECT privstat.unseal(privstat.seal('ann@example.com'));
	SELECT privstat.rotate_key('customer');
});
catch_up();
my $on_primary = $primary->safe_psql('postgres', $others);
like($on_primary, qr/unseal:1.*key_rotation/, 'the primary recorded an unseal and a key rotation');
is($standby->safe_psql('postgres', $others), $on_primary,
	'the standby\'s trail has the primary\'s other events, from the WAL');
$standby->restart;
catch_up();
is($standby->safe_psql('postgres', $others), $on_primary, 'replayed again after a restart, none twice');

# synchronous replication: an answer leaves only once the standby has its charge
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'standby'");
$primary->reload;
$primary->poll_query_until('postgres', q{SELECT sync_state = 'sync' FROM pg_stat_replication})
  or die 'the standby did not become synchronous';
is($primary->safe_psql('postgres', 'SELECT privstat.dp_count(i, 0.5) IS NOT NULL FROM t'), 't',
	'with a synchronous standby connected, a DP query answers');
$standby->stop;
($ret, $out, $err) = $primary->psql('postgres',
	"SET statement_timeout = '2s'; SELECT privstat.dp_count(i, 0.5) FROM t");
isnt($ret, 0, 'with the synchronous standby gone, a DP query does not answer');
like($err, qr/the answer is withheld: its privacy budget charge was not confirmed by the synchronous standby/,
	'... it waits for the standby, as a commit does, and withholds the answer when the wait ends first');
is($primary->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role::text = current_user}),
	'4.5', '... while the charge stands');
$standby->start;
catch_up();
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role::text = current_user}),
	'4.5', 'the standby, back, has that charge too');
$primary->append_conf('postgresql.conf', "synchronous_standby_names = ''");
$primary->reload;

# failover needs nobody: the promoted standby charges at once, from the same figures
$standby->promote;
$standby->safe_psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t');
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent || '/' || charges FROM privstat.budget_status WHERE role::text = current_user}),
	'5.5/6', 'a promoted standby answers DP queries at once, with every spend the old primary made');
$standby->restart;
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role::text = current_user}),
	'5.5', 'and keeps them across a restart');
is($standby->safe_psql('postgres', 'SELECT ok FROM privstat.verify_audit_log()'), 't',
	'its audit trail verifies');
is($standby->safe_psql('postgres', $others), $on_primary,
	'the new primary\'s trail has the old primary\'s unseal and key rotation');

done_testing();
