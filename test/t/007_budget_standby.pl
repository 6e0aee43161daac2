# Budgets and replication: a hot standby refuses DP queries (the journal
# lives on the primary) and unseals (so is the audit trail), naming the
# primary, and a promoted standby refuses to charge until a
# superuser adopts its journal, so spends the old primary recorded after the
# base backup can never silently come back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION privstat;
	CREATE TABLE t AS SELECT g AS i FROM generate_series(1, 100) g;
	SELECT privstat.set_budget(current_user::regrole, 10);
	SELECT privstat.dp_count(i, 1) FROM t;
});
$primary->backup('base');
# a spend after the backup: the standby's copy of the journal lacks it
$primary->safe_psql('postgres', 'SELECT privstat.dp_count(i, 2) FROM t');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
# the test harness copies the backup without its file modes; pg_basebackup keeps 0600
chmod 0600, $standby->data_dir . '/privstat.key';
$standby->start;
$primary->wait_for_catchup($standby);

my ($ret, $out, $err) = $standby->psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t');
like($err, qr/privacy budgets cannot be charged or changed on a hot standby/, 'a hot standby refuses DP queries');
my $primary_at = $primary->host . ':' . $primary->port;
like($err, qr/HINT:  Run DP queries and budget changes on the primary, \Q$primary_at\E \(where this standby receives its WAL from\)/,
	'and says where to run them: the primary, as its WAL receiver sees it');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT privstat.unseal(privstat.seal('ann@example.com'))});
like($err, qr/values cannot be unsealed on a hot standby/, 'a hot standby refuses to unseal (its audit trail is its own)');
like($err, qr/HINT:  Unseal on the primary, \Q$primary_at\E/, '... and names the primary');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM t'), '100', 'other queries run on the standby');

$standby->promote;
($ret, $out, $err) = $standby->psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t');
like($err, qr/the privacy budget journal was written on timeline 1, but this server is on timeline 2/,
	'a promoted standby refuses to charge with a journal from the old timeline');
like($err, qr/HINT:  Copy the newest privstat\/budget\.journal of the old server/, 'and says what to do');
($ret, $out, $err) = $standby->psql('postgres', q{SELECT privstat.set_budget(current_user::regrole, 100)});
like($err, qr/written on timeline 1/, 'budget changes are refused too');

# the fix the hint gives first: copy the old primary's journal
$standby->stop;
$primary->stop;
system('cp', $primary->data_dir . '/privstat/budget.journal', $standby->data_dir . '/privstat/budget.journal') == 0
  or die 'copy failed';
$standby->start;
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role::text = current_user}),
	'3', 'with the old primary\'s journal, every spend is back in the ledger');
$standby->safe_psql('postgres', 'SELECT privstat.adopt_budget_journal()');
$standby->safe_psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t');
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role::text = current_user}),
	'4', 'after adopting, charging resumes on the new timeline');
$standby->restart;
is($standby->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role::text = current_user}),
	'4', 'and the adoption is in the journal');

done_testing();
