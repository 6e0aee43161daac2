# Nothing refunds: the budget journal cut, truncated or removed while the
# server is stopped gets back, from the audit trail, every record the trail
# holds, so no spend comes back; records that neither file holds any more
# (the trail's older segments removed) are marked lost, and privstat refuses
# to charge until a superuser adopts the journal, after which
# privstat.record_spend() records what is known to be missing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

my $node = analyst_node('lost', budget => 1000, init => { allows_streaming => 1 });
my $journal = $node->data_dir . '/privstat/budget.journal';
my $audit = $node->data_dir . '/privstat/audit';

sub charge
{
	my ($n) = @_;
	$node->safe_psql('postgres', "SELECT privstat.dp_count(i, 1) FROM t", extra_params => [ '-U', 'analyst' ])
	  for 1 .. $n;
}
# an analyst's DP query on $n, expected to be refused: its exit code and stderr
sub try_charge
{
	my ($n) = @_;
	my ($ret, $out, $err) = $n->psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t',
		extra_params => [ '-U', 'analyst' ]);
	return ($ret, $err);
}
sub spent
{
	return $node->safe_psql('postgres',
		q{SELECT epsilon_spent || '/' || epsilon_limit FROM privstat.budget_status WHERE role = 'analyst'::regrole});
}
sub verify { return $node->safe_psql('postgres', 'SELECT ok FROM privstat.verify_audit_log()'); }
# stop, change the journal, start; the log of that start
sub restart_after
{
	my ($change) = @_;
	$node->stop;
	my $offset = -s $node->logfile;
	$change->();
	$node->start;
	return substr(slurp_file($node->logfile), $offset);
}

charge(30);
is(spent(), '30/1000', '30 charges');

# the journal cut after its first 11 records (the budget and 10 charges)
my $log = restart_after(sub { truncate $journal, 11 * 128 or die "truncate: $!"; });
is(spent(), '30/1000', 'journal truncated while stopped: no spend comes back');
like($log, qr/budget journal ended at record 11: restored 20 of its records up to 30 from the audit trail/,
	'the start says what it restored');
charge(1);
is(spent(), '31/1000', 'charging goes on from there');

# a damaged record in the middle, all intact after: the tail is cut, then restored
$log = restart_after(sub {
	open my $fh, '+<', $journal or die;
	binmode $fh;
	seek $fh, 20 * 128 + 40, 0;
	print $fh "\xff\xff\xff\xff";
	close $fh;
});
is(spent(), '31/1000', 'a record damaged while stopped: no spend comes back');

# the journal removed
$log = restart_after(sub { unlink $journal or die "unlink: $!"; });
is(spent(), '31/1000', 'journal removed while stopped: the budget and every spend come back from the trail');
like($log, qr/restored 32 of its records/, '... all 32 records');
is(verify(), 't', 'the trail verifies');
charge(1);
is(spent(), '32/1000', 'and charges go on');

# the trail no longer holds the oldest records: the journal loses them for good
$node->safe_psql('postgres', 'SELECT privstat.rotate_audit_log()');
charge(3);
my @old;
$log = restart_after(sub {
	opendir my $d, $audit or die;
	my @segs = sort grep { /^[0-9A-F]{16}$/ } readdir $d;
	closedir $d;
	pop @segs;			# the newest stays
	unlink "$audit/$_" or die for @segs;
	unlink $journal or die;
});
like($log, qr/budget journal records 0 to 32 are lost: privstat refuses to charge privacy budgets/,
	'records in neither file are reported lost');
like($log, qr/restored 3 of its records up to 35/, 'those the trail still holds are restored');
my ($ret, $err) = try_charge($node);
isnt($ret, 0, 'a DP query is refused');
like($err, qr/privstat refuses to charge privacy budgets: spends may be missing from the budget journal/,
	'... saying why');
like($err, qr/HINT:.*adopt_budget_journal\(\).*record_spend\(\)/, '... and what to do');
$node->restart;
($ret, $err) = try_charge($node);
like($err, qr/spends may be missing from the budget journal/, 'still refused after a restart (the loss is in the journal)');

$node->safe_psql('postgres', q{
	SELECT privstat.adopt_budget_journal();
	SELECT privstat.set_budget('analyst', 1000);
	SELECT privstat.record_spend('analyst', 32);
});
is(spent(), '35/1000', 'after adopting, the administrator records the missing spend (3 kept + 32)');
charge(1);
is(spent(), '36/1000', 'and charging goes on');
$node->restart;
is(spent(), '36/1000', 'all of it survives a restart');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM privstat.audit_log WHERE event = 'budget_lost'}), '1',
	'the trail records the loss');
is(verify(), 't', 'the trail verifies');

# record_spend only adds, and only for administrators
my $out;
($ret, $out, $err) = $node->psql('postgres', q{SELECT privstat.record_spend('analyst', -1)});
like($err, qr/epsilon of a recorded spend must be between 0 and 1e9/, 'a negative spend is refused');
($ret, $out, $err) = $node->psql('postgres', q{SELECT privstat.record_spend('analyst', 0)});
like($err, qr/must have an epsilon or a delta above 0/, 'an empty spend is refused');
($ret, $out, $err) = $node->psql('postgres', q{SELECT privstat.record_spend('analyst', 1)},
	extra_params => [ '-U', 'analyst' ]);
like($err, qr/permission denied/, 'only administrators record spends');

# a server started from a base backup: spends the source makes after the
# copy are missing from its journal, which it says, refusing to charge
$node->backup('copy');
charge(2);
my $restored = node_from_backup('restored', $node, 'copy');
$restored->start;
like(slurp_file($restored->logfile), qr/privstat: this server starts from a base backup: privstat refuses to charge privacy budgets/,
	'a start from a base backup is logged');
($ret, $err) = try_charge($restored);
like($err, qr/spends may be missing from the budget journal/, 'and charges are refused there');
$restored->restart;
($ret, $err) = try_charge($restored);
like($err, qr/spends may be missing from the budget journal/, '... after a restart too (backup_label is gone by then)');
$restored->safe_psql('postgres', q{
	SELECT privstat.adopt_budget_journal();
	SELECT privstat.record_spend('analyst', 2);
});
$restored->safe_psql('postgres', 'SELECT privstat.dp_count(i, 1) FROM t', extra_params => [ '-U', 'analyst' ]);
is($restored->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role = 'analyst'::regrole}), '39',
	'adopted, with the two spends made after the copy recorded: 36 + 2 + 1');
$restored->stop;

# the same copy restored in archive recovery and stopped before its recovery
# ends: PostgreSQL renamed backup_label at the first start, but the next one
# still knows it starts from a base backup
my $slow = node_from_backup('slow', $node, 'copy');
$slow->append_conf('postgresql.conf', "restore_command = 'sleep 3; false'\n");
$slow->set_recovery_mode;
$slow->start;
ok(-e $slow->data_dir . '/backup_label.old' && !-e $slow->data_dir . '/backup_label',
	'recovery began: backup_label is renamed');
is($slow->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'and has not ended');
$slow->stop('immediate');
$slow->append_conf('postgresql.conf', "restore_command = 'false'\n");
$slow->start;
ok($slow->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'recovery ends at the next start');
like(slurp_file($slow->logfile), qr/privstat: this server starts from a base backup: privstat refuses to charge privacy budgets/,
	'which says it starts from a base backup');
($ret, $err) = try_charge($slow);
like($err, qr/spends may be missing from the budget journal/, 'and refuses to charge');
$slow->stop;

$node->stop;
done_testing();
