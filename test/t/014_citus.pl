# privstat with Citus (issue "Citus", in progress; doc/citus.md): a
# coordinator and two workers, shared_preload_libraries = 'citus,privstat'
# and the same key file on every node.  Checked so far: everything starts in
# that order, and EXPLAIN of a DP query over a distributed table shows
# privstat's privacy lines (they vanished when Citus's ExplainOneQuery hook
# ran instead of privstat's).  Skipped, saying so, where Citus is not
# installed (test/citus/build.sh installs it from the vendored tarball).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Copy;

my $pkglib = `pg_config --pkglibdir`;
chomp $pkglib;
plan skip_all => 'Citus is not installed: ' . ($ENV{PRIVSTAT_CITUS_STATUS} // 'see test/citus/build.sh')
  unless -f "$pkglib/citus.so";

my @nodes;
for my $name (qw(coordinator worker1 worker2))
{
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,privstat'
max_worker_processes = 16
citus.shard_count = 8
});
	push @nodes, $node;
}
my ($coord, @workers) = @nodes;

# the key file on every node before its first start: the coordinator's
$coord->start;
$coord->stop;
copy($coord->data_dir . '/privstat.key', $_->data_dir . '/privstat.key') or die "copy: $!" for @workers;
chmod 0600, map { $_->data_dir . '/privstat.key' } @workers;
$_->start for @nodes;
ok(1, 'coordinator and workers start with citus,privstat preloaded and one key file');

for my $node (@nodes)
{
	$node->safe_psql('postgres', 'CREATE EXTENSION citus; CREATE EXTENSION privstat;');
}
is($workers[0]->safe_psql('postgres', q{SELECT privstat.pseudonymize('u1')::text}),
	$coord->safe_psql('postgres', q{SELECT privstat.pseudonymize('u1')::text}),
	'the same pseudonym on a worker as on the coordinator');

$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_coordinator_host('%s', %d)}, $coord->host, $coord->port));
$coord->safe_psql('postgres', sprintf(q{SELECT citus_add_node('%s', %d)}, $_->host, $_->port)) for @workers;
is($coord->safe_psql('postgres', 'SELECT count(*) FROM citus_get_active_worker_nodes()'), '2', 'two workers');

$coord->safe_psql('postgres', q{
	CREATE TABLE events (uid int, v int);
	SELECT create_distributed_table('events', 'uid');
	INSERT INTO events SELECT g, g % 50 FROM generate_series(1, 2000) g;
	SELECT privstat.set_budget(current_user::regrole, 1000);
});

my $plan = $coord->safe_psql('postgres', 'EXPLAIN (COSTS OFF) SELECT privstat.dp_count(*) FROM events');
like($plan, qr/Custom Scan \(Citus/, 'EXPLAIN goes through Citus');
like($plan, qr/Privacy Cost Epsilon: 1\.000000/, 'EXPLAIN shows the privacy cost with Citus loaded');
like($plan, qr/Privacy Budget Epsilon Remaining: 1000\.000000/, '... and what the role has left');
my $json = $coord->safe_psql('postgres',
	'EXPLAIN (COSTS OFF, FORMAT JSON) SELECT privstat.dp_count(*) FROM events');
like($json, qr/"Privacy Cost Epsilon": 1\.000000/, 'and in JSON');
is($coord->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role = current_user::regrole}),
	'0', 'EXPLAIN charged nothing');

$_->stop for @nodes;
done_testing();
