# Failover and rejoin: a primary and a streaming standby charge one ledger
# through the WAL; after a promotion the old primary, which went on alone,
# is rewound with pg_rewind and rejoins as a standby of the new primary
# without losing any charge of the new timeline, and the new primary's
# ledger and trail stay whole.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

my $old = charged_node('old', budget => 100, init => { allows_streaming => 1 },
	conf => "wal_log_hints = on\n"
	  . "wal_keep_size = '160MB'    # pg_rewind reads the WAL from the last common checkpoint\n");
$old->backup('base');
my $new = node_from_backup('new', $old, 'base', has_streaming => 1);
$new->start;

sub spent
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT epsilon_spent || '/' || charges FROM privstat.budget_status WHERE role::text = current_user});
}
sub catch_up
{
	my ($from, $to) = @_;
	my $lsn = $from->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$from->wait_for_catchup($to, 'replay', $lsn);
	return;
}

$old->safe_psql('postgres', 'SELECT privstat.dp_count(i, 2) FROM t');
catch_up($old, $new);
is(spent($new), '3/2', 'the standby has both charges');

# failover; the old primary goes on alone for a moment (a split brain)
$new->promote;
$new->safe_psql('postgres', 'CHECKPOINT');    # pg_rewind reads the new timeline from the control file
$new->safe_psql('postgres', 'SELECT privstat.dp_count(i, 4) FROM t');
$old->safe_psql('postgres', 'SELECT privstat.dp_count(i, 8) FROM t');
is(spent($new), '7/3', 'the new primary charges at once, from the same figures');

# rewind the old primary from the new one and rejoin as its standby
$old->stop;
# pg_rewind copies the source's configuration files too: keep the old one's (its port)
my $conf = slurp_file($old->data_dir . '/postgresql.conf');
command_ok(
	[ 'pg_rewind', '--target-pgdata', $old->data_dir,
	  '--source-server', $new->connstr('postgres') ],
	'pg_rewind of the old primary');
chmod 0600, $old->data_dir . '/privstat.key';
open my $fh, '>', $old->data_dir . '/postgresql.conf' or die;
print $fh $conf;
close $fh;
$old->enable_streaming($new);
$old->start;
$new->safe_psql('postgres', 'SELECT privstat.dp_count(i, 3) FROM t');
catch_up($new, $old);
is(spent($old), '10/4', 'the rejoined server has every charge of the new timeline, and the next');
is(spent($new), '10/4', 'and the new primary too');
unlike(slurp_file($old->logfile), qr/privstat: this server starts from a base backup/,
	'rejoining as a standby is not taken for a restore');
is($old->safe_psql('postgres', 'SELECT ok FROM privstat.verify_audit_log()'), 't',
	'the rejoined server\'s trail verifies');
is($new->safe_psql('postgres', 'SELECT ok FROM privstat.verify_audit_log()'), 't',
	'the new primary\'s trail verifies');

$old->stop;
$new->stop;
done_testing();
