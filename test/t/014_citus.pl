# privstat with Citus (issue #18; doc/citus.md): a coordinator and two
# workers, shared_preload_libraries = 'citus,privstat' and the same key file
# on every node.  Checked: everything starts in that order; EXPLAIN shows
# privstat's privacy lines through Citus; DP queries over distributed
# tables, grouped or not, answer on the coordinator, charged exactly once
# there and priced by dp_cost(), from the workers' counts, sums and sealed
# partial states; workers refuse DP queries and budget changes; restricted
# roles, views and readers under row rules read through the coordinator;
# other roles' INSERT, UPDATE and DELETE under the rules (the latter run as
# the owner, compared with a one-server twin) and every refusal of that
# path; retention on every shard; key rotation on every node.  Skipped,
# saying so, where Citus is not installed (test/citus/build.sh installs it
# from the vendored tarball).
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
privstat.max_epsilon = 100
# the retention workers' own passes would race the purges this test makes
# with purge_expired (it once found a table already purged)
privstat.purge_interval = 0
});
	push @nodes, $node;
}
my ($coord, @workers) = @nodes;
$coord->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus,privstat,pg_stat_statements'
pg_stat_statements.track = all
});

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
$coord->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');
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
like($plan, qr/Function Scan on _citus_partials privstat_partials/,
	'EXPLAIN: the DP query merges partial states from the workers, on the coordinator');
like($plan, qr/Privacy Cost Epsilon: 1\.000000/, 'EXPLAIN shows the privacy cost with Citus loaded');
like($plan, qr/Privacy Budget Epsilon Remaining: 1000\.000000/, '... and what the role has left');
my $json = $coord->safe_psql('postgres',
	'EXPLAIN (COSTS OFF, FORMAT JSON) SELECT privstat.dp_count(*) FROM events');
like($json, qr/"Privacy Cost Epsilon": 1\.000000/, 'and in JSON');
is($coord->safe_psql('postgres',
		q{SELECT epsilon_spent FROM privstat.budget_status WHERE role = current_user::regrole}),
	'0', 'EXPLAIN charged nothing');

# One budget for the cluster: DP queries run on the coordinator, charged once.
sub spent
{
	my ($role) = @_;
	return $coord->safe_psql('postgres',
		qq{SELECT epsilon_spent || ' ' || charges FROM privstat.budget_status WHERE role = '$role'::regrole});
}
sub journal_written
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT records FROM privstat.budget_journal_status()');
}
$coord->safe_psql('postgres', q{
	CREATE ROLE citus_analyst LOGIN;
	GRANT USAGE ON SCHEMA privstat TO citus_analyst;
	GRANT SELECT ON events TO citus_analyst;
	CREATE TABLE visits (uid int, page int);
	SELECT create_distributed_table('visits', 'uid');
	INSERT INTO visits SELECT g % 10, g FROM generate_series(1, 400) g;
	GRANT SELECT ON visits TO citus_analyst;
	SELECT privstat.set_budget('citus_analyst', 10000);
});
my @worker_written = map { journal_written($_) } @workers;

my %queries = (
	'dp_count(*)' => ['SELECT privstat.dp_count(*) FROM events', 100],
	'dp_count(x)' => ['SELECT privstat.dp_count(v, 100) FROM events', 100],
	'dp_sum' => ['SELECT round(privstat.dp_sum(v, 0, 49, 100)) FROM events', 100],
	'dp_avg' => ['SELECT round(privstat.dp_avg(v, 0, 49, 100)) FROM events', 100],
	'dp_median' => ['SELECT round(privstat.dp_median(v, 0, 49, 100)) FROM events', 100],
	'dp_sum with privstat.epsilon' => ['SELECT round(privstat.dp_sum(v, 0, 49)) FROM events', 100],
	'dp_avg with privstat.epsilon' => ['SELECT round(privstat.dp_avg(v, 0, 49)) FROM events', 100],
	'two aggregates, one with constant bounds' =>
	  ['SELECT privstat.dp_count(uid, 50), round(privstat.dp_sum(v, 0, 49, 50)) FROM events', 100],
	'GROUP BY the distribution column' =>
	  ['SELECT count(*), min(n), max(n) FROM (SELECT uid, privstat.dp_count(uid, 100) AS n FROM visits GROUP BY uid) s', 100],
	'GROUP BY another column' =>
	  ['SELECT count(*), min(n), max(n) FROM (SELECT v, privstat.dp_count(uid, 100) AS n FROM events GROUP BY v) s', 100],
);
my %expect = (
	'dp_count(*)' => qr/^(1999|2000|2001)$/,
	'dp_count(x)' => qr/^(1999|2000|2001)$/,
	'dp_sum' => qr/^4[89]\d\d\d$/,
	'dp_avg' => qr/^2[345]$/,
	'dp_median' => qr/^\d+$/,
	'dp_sum with privstat.epsilon' => qr/^4[89]\d\d\d$/,
	'dp_avg with privstat.epsilon' => qr/^2[345]$/,
	'two aggregates, one with constant bounds' => qr/^(1999|2000|2001)\|4[89]\d\d\d$/,
	'GROUP BY the distribution column' => qr/^10\|(39|40|41)\|(39|40|41)$/,
	'GROUP BY another column' => qr/^50\|(39|40|41)\|(39|40|41)$/,
);
my ($eps, $charges) = split / /, spent('citus_analyst');
for my $name (sort keys %queries)
{
	my ($sql, $cost) = @{ $queries{$name} };
	my ($out, $err);
	$coord->psql('postgres', "SET privstat.epsilon = 100; SET ROLE citus_analyst; $sql", stdout => \$out, stderr => \$err);
	like($out, $expect{$name}, "$name over a distributed table answers on the coordinator")
	  or diag($err);
	my ($eps2, $charges2) = split / /, spent('citus_analyst');
	is($charges2 - $charges, 1, "$name: one charge on the coordinator");
	is($eps2 - $eps, $cost, "$name: charged its epsilon once, not once per shard");
	($eps, $charges) = ($eps2, $charges2);
	is($coord->safe_psql('postgres', "SET privstat.epsilon = 100; SELECT epsilon FROM privstat.dp_cost(\$q\$$sql\$q\$)"),
		$cost, "$name: dp_cost prices it on the coordinator");
}
# statements of other shapes: each answers and is charged once per run
$coord->safe_psql('postgres', q{
	CREATE TABLE pages (page int, kind text);
	INSERT INTO pages SELECT g, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 400) g;
	CREATE TABLE kinds (v int, name text);
	SELECT create_reference_table('kinds');
	INSERT INTO kinds SELECT g, 'k' || g FROM generate_series(0, 49) g;
	CREATE TABLE results (n bigint);
	CREATE TABLE nothing (k int, x int);
	SELECT create_distributed_table('nothing', 'k');
	CREATE TABLE sparse (id int, k int, x int);
	SELECT create_distributed_table('sparse', 'id');
	INSERT INTO sparse SELECT g, 1, 0 FROM generate_series(1, 100) g;
	INSERT INTO sparse SELECT g, NULL, NULL FROM generate_series(101, 200) g;
	GRANT SELECT ON nothing, sparse TO citus_analyst;
	GRANT SELECT ON pages, kinds TO citus_analyst;
	GRANT INSERT, SELECT ON results TO citus_analyst;
});
my @shapes = (
	[ 'a join with a local table',
	  q{SELECT kind, privstat.dp_count(p.page, 100) FROM visits v JOIN pages p USING (page) GROUP BY kind ORDER BY kind},
	  qr/^even\|(199|200|201)
odd\|(199|200|201)$/, 1 ],
	[ 'the same DP aggregate in the select list, HAVING and ORDER BY (one release)',
	  q{SELECT v, privstat.dp_count(uid, 100) FROM events GROUP BY v HAVING privstat.dp_count(uid, 100) > 0
	    ORDER BY privstat.dp_count(uid, 100) DESC, v LIMIT 2},
	  qr/^\d+\|(39|40|41)\n\d+\|(39|40|41)$/, 1 ],
	[ 'dp_sum of numeric and of double precision, and dp_avg, on partial states',
	  q{SELECT round(privstat.dp_sum(v::numeric, 0, 49, 50)), round(privstat.dp_sum(v::float8 / 2, 0, 25, 25)),
	    round(privstat.dp_avg(v::float8, 0, 49, 25)) FROM events},
	  qr/^4[89]\d\d\d\|2[45]\d\d\d\|2[345]$/, 1 ],
	[ 'dp_variance and dp_stddev on partial states',
	  q{SELECT round(privstat.dp_variance(v, 0, 49, 50)), round(privstat.dp_stddev(v, 0, 49, 50)) FROM events},
	  qr/^(19[0-9]|20[0-9]|21[0-9])\|1[345]$/, 1 ],
	[ 'dp_median and dp_percentile on partial histograms',
	  q{SELECT round(privstat.dp_median(v, 0, 49, 50)), round(privstat.dp_percentile(v::float8, 0.9, 0, 49, 50)) FROM events},
	  qr/^(2[2-7])\|(4[3-7])$/, 1 ],
	# at epsilon 100 over values clamped to [0, 1], each release below is
	# exact but with a probability of about 1e-10 (the avg's count and sum
	# at epsilon 50 each), so they check the states the workers' counts and
	# sums build, to the unit
	[ 'dp_sum of integers from the workers\' sum(), exact at epsilon 100',
	  q{SELECT privstat.dp_sum(v, 0, 1, 100) FROM events}, qr/^1960$/, 1 ],
	[ 'dp_avg of integers, centred on the workers, exact at epsilon 100',
	  q{SELECT round(privstat.dp_avg(v, 0, 1, 100)::numeric, 6) FROM events}, qr/^0\.980000$/, 1 ],
	[ 'dp_sum grouped by another column, exact at epsilon 100',
	  q{SELECT v, privstat.dp_sum(uid, 0, 1, 100) FROM events WHERE v < 3 GROUP BY v ORDER BY v},
	  qr/^0\|40\n1\|40\n2\|40$/, 1 ],
	[ 'dp_sum of double precision and dp_avg of numeric from the workers\' sums (noise about 0.01)',
	  q{SELECT abs(privstat.dp_sum(v::float8 / 49, 0, 1, 50) - 1000) < 1,
	    abs(privstat.dp_avg(v::numeric / 49, 0, 1, 50) - 0.5) < 0.001 FROM events},
	  qr/^t\|t$/, 1 ],
	[ 'an empty distributed table',
	  q{SELECT privstat.dp_count(x, 50) BETWEEN -1 AND 1, abs(privstat.dp_sum(x, 0, 1, 50)) <= 1 FROM nothing},
	  qr/^t\|t$/, 1 ],
	[ 'groups with a NULL key, and a group whose values are all NULL',
	  q{SELECT k IS NULL, privstat.dp_count(x, 50), abs(privstat.dp_sum(x, 0, 1, 50)) <= 1 FROM sparse GROUP BY k ORDER BY 1},
	  qr/^f\|(99|100|101)\|t\nt\|(0|1|-1)\|t$/, 1 ],
	[ 'a reference table',
	  q{SELECT privstat.dp_count(name, 100) FROM kinds}, qr/^(49|50|51)$/, 1 ],
	[ 'a subquery and a CTE over distributed tables',
	  q{WITH w AS (SELECT uid FROM visits WHERE page > 200) SELECT privstat.dp_count(uid, 100) FROM events WHERE uid IN (SELECT uid FROM w)},
	  qr/^(8|9|10|11|12)$/, 1 ],
	[ 'INSERT ... SELECT into a local table',
	  q{INSERT INTO results SELECT privstat.dp_count(uid, 100) FROM events; SELECT n FROM results},
	  qr/^(1999|2000|2001)$/, 1 ],
	[ 'a prepared statement with a parameter, run 7 times (a generic plan from the 6th)',
	  q{PREPARE q(int) AS SELECT privstat.dp_count(uid, 100) FROM events WHERE v < $1; }
	  . join(' ', ('EXECUTE q(25);') x 7),
	  qr/^((999|1000|1001)\n){6}(999|1000|1001)$/, 7 ],
	[ 'a prepared statement run 7 times (a generic plan from the 6th)',
	  q{PREPARE p AS SELECT privstat.dp_count(uid, 100) FROM visits; }
	  . join(' ', ('EXECUTE p;') x 7),
	  qr/^((399|400|401)
){6}(399|400|401)$/, 7 ],
);
for my $shape (@shapes)
{
	my ($name, $sql, $expect, $runs) = @$shape;
	my ($out, $err);
	$coord->psql('postgres', "SET ROLE citus_analyst; $sql", stdout => \$out, stderr => \$err);
	like($out, $expect, "$name: answers") or diag($err);
	my ($eps2, $charges2) = split / /, spent('citus_analyst');
	is($charges2 - $charges, $runs, "$name: charged once per run");
	is($eps2 - $eps, 100 * $runs, "$name: epsilon 100 per run (each DP aggregate released once)");
	($eps, $charges) = ($eps2, $charges2);
}

{
	my ($out, $err);
	$coord->psql('postgres', q{SET ROLE citus_analyst;
		SELECT k.name, (SELECT privstat.dp_count(e.uid, 100) FROM events e WHERE e.v = k.v) FROM kinds k},
		stdout => \$out, stderr => \$err);
	like($err, qr/DP aggregates cannot run in a part of the query that may release them more than once/,
		'a DP aggregate in a correlated subquery over a distributed table is refused, as over any table');
	is((split / /, spent('citus_analyst'))[1], $charges, '... and not charged');
}
is(join(',', map { journal_written($_) } @workers), join(',', @worker_written),
	'the workers wrote no journal record');

my $explain = $coord->safe_psql('postgres',
	'EXPLAIN (COSTS OFF) SELECT e.v, privstat.dp_count(*) FROM events e JOIN kinds k USING (v) GROUP BY e.v');
like($explain, qr/Function Scan on _citus_rows e/,
	'EXPLAIN: a join gathers the rows through privstat._citus_rows');
like($explain, qr/Privacy Cost Epsilon: 1\.000000/, 'EXPLAIN: priced on the coordinator');
$explain = $coord->safe_psql('postgres',
	'EXPLAIN (VERBOSE, COSTS OFF) SELECT privstat.dp_median(v, 0, 49), privstat.dp_percentile(v, 0.9, 0, 49, 2) FROM events');
like($explain, qr/_dp_merge_median\(s_1, .*_dp_merge_percentile\(s_2, /s,
	'EXPLAIN VERBOSE: percentiles merge partial histograms');
like($explain, qr/Privacy Cost Epsilon: 3\.000000/, '... priced as the calls they replace');
$explain = $coord->safe_psql('postgres',
	'EXPLAIN (VERBOSE, COSTS OFF) SELECT uid, privstat.dp_count(*) FROM events GROUP BY uid');
like($explain, qr/privstat\._dp_merge_count\(s_1\)/, 'EXPLAIN VERBOSE: a grouped count merges partial states');
like($explain, qr/SELECT uid AS g_1,\s+1 AS s_1_1,\s+false AS s_1_2,.*count\(\*\) AS s_1_6,\s+NULL::numeric AS s_1_7\s+FROM public\.events\s+GROUP BY uid/s,
	'... which the workers count with count(*), and Citus distributes as its own');
$explain = $coord->safe_psql('postgres',
	'EXPLAIN (VERBOSE, COSTS OFF) SELECT privstat.dp_sum(v, 0, 49), privstat.dp_avg(v::float8, 0, 49, 2) FROM events');
like($explain, qr/count\(v\) AS s_1_6,\s+sum\(privstat\._dp_grid\(v, 2, .*count\(\(v\)::double precision\) AS s_2_6,\s+sum\(privstat\._dp_grid\(\(v\)::double precision, 3, /s,
	'EXPLAIN VERBOSE: the workers count and sum the grid values of dp_sum and dp_avg with count() and sum()');
like($explain, qr/_dp_merge_sum_int8\(s_1, .*_dp_merge_avg\(s_2, /s, '... and the coordinator merges what they give');
$explain = $coord->safe_psql('postgres',
	'EXPLAIN (VERBOSE, COSTS OFF) SELECT privstat.dp_stddev(v, 0, 49), privstat.dp_variance(v, 0, 49, 2) FROM events');
like($explain, qr/_dp_merge_stddev\(s_1, .*_dp_merge_variance\(s_2, /s,
	'EXPLAIN VERBOSE: dp_stddev and dp_variance merge partial states too');
like($explain, qr/Privacy Cost Epsilon: 3\.000000/, '... priced as the calls they replace');
unlike($explain, qr/dp_count.*events_\d+|events_\d+.*dp_count/s,
	'no shard query carries the DP aggregate');

my ($out, $err);
$coord->psql('postgres', 'SELECT privstat.dp_count(e.*) FROM events e', stdout => \$out, stderr => \$err);
like($err, qr/a DP query cannot read whole rows, system columns or a sample of Citus table "events"/,
	'whole rows of a distributed table are refused, by name');

# the partial states: sealed outside the coordinator's merge, and merged once
my $sealed1 = $coord->safe_psql('postgres', 'SELECT privstat._dp_partial(v, 4, 0, 49, 1)::text FROM events');
my $sealed2 = $coord->safe_psql('postgres', 'SELECT privstat._dp_partial(v, 4, 0, 49, 1)::text FROM events');
like($sealed1, qr/^ps1:[0-9a-f]{344}$/, 'a partial state reads as sealed text');
isnt($sealed1, $sealed2, '... under a new nonce each time (equal states do not show as equal)');
unlike($sealed1, qr/d007/, '... and not as the exact count (2000 = 0x7d0)');
my $tampered = $sealed1;
substr($tampered, 40, 1) = substr($tampered, 40, 1) eq '0' ? '1' : '0';
$coord->psql('postgres', "SELECT '$tampered'::privstat.dp_state", stdout => \$out, stderr => \$err);
like($err, qr/invalid sealed dp_state/, 'a changed sealed state does not open');
$coord->psql('postgres', q{SELECT 'abcd'::privstat.dp_state}, stdout => \$out, stderr => \$err);
like($err, qr/A dp_state is sealed/, 'a state that is not sealed is refused');
$coord->psql('postgres',
	q{SELECT privstat._dp_merge_variance(s, 0, 49, 1, 'integer') FROM (SELECT privstat._dp_partial(v, 4, 0, 49, 1) AS s FROM events) x},
	stdout => \$out, stderr => \$err);
like($err, qr/takes only the states privstat._citus_partials handed out/,
	'a merge refuses a state _citus_partials did not hand out');
$coord->psql('postgres',
	q{SELECT * FROM privstat._citus_partials('SELECT 1, false, 0::float8, 0::float8, 1::float8, count(*), NULL::numeric FROM public.events', '\x00') AS p(s privstat.dp_state)},
	stdout => \$out, stderr => \$err);
like($err, qr/runs only the queries privstat writes for it/, '_citus_partials refuses a query without its HMAC');
$explain = $coord->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT privstat.dp_count(v, 1) FROM events');
my ($call) = $explain =~ /(privstat\._citus_partials\('.*?'::text, '\\x[0-9a-f]+'::bytea\))/s;
ok(defined $call, 'EXPLAIN VERBOSE shows the authenticated query of partial states') or diag($explain);
$coord->psql('postgres', "SET ROLE citus_analyst; SELECT privstat._dp_merge_count(s, 1) FROM (
		SELECT s FROM $call AS p(s privstat.dp_state) UNION ALL
		SELECT s FROM $call AS p(s privstat.dp_state)) twice",
	stdout => \$out, stderr => \$err);
like($err, qr/runs only in the statement privstat rewrote for it/,
	'a plan\'s authenticated call copied into another statement does not run (no state to merge twice)');
$coord->psql('postgres', "SELECT privstat._dp_merge_count(s) FROM $call AS p(s privstat.dp_state)",
	stdout => \$out, stderr => \$err);
like($err, qr/runs only in the statement privstat rewrote for it/, '... not even merged once');
$coord->psql('postgres', "SELECT privstat.dp_count(v, 1) FROM events
		UNION ALL SELECT privstat._dp_merge_count(s, 1) FROM $call AS p(s privstat.dp_state)",
	stdout => \$out, stderr => \$err);
like($err, qr/runs only in the statement privstat rewrote for it/,
	'... nor beside the statement it was copied from, whose plan marks its HMAC');
my $analyze = $coord->safe_psql('postgres',
	'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT privstat.dp_count(v) FROM events');
like($analyze, qr/Function Scan on _citus_partials privstat_partials \(actual rows=1 loops=1\)/,
	'the rewritten statement runs its call under EXPLAIN ANALYZE');
like($analyze, qr/Privacy Cost Epsilon: 1\.000000/,
	'... and its privacy lines are of the explained plan, not of the query the call planned (which crashed)');
like($coord->safe_psql('postgres', 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
		SELECT privstat.dp_count(e.uid, 2) FROM events e JOIN kinds k USING (v)'),
	qr/Function Scan on _citus_rows e.*Privacy Cost Epsilon: 2\.000000/s,
	'EXPLAIN ANALYZE of a statement that gathers rows: its own privacy lines');
like($coord->safe_psql('postgres', q{BEGIN; DECLARE c CURSOR FOR SELECT v, privstat.dp_count(uid, 1) FROM events GROUP BY v;
		FETCH 2 FROM c; FETCH 1 FROM c; COMMIT}),
	qr/^(\d+\|-?\d+\n){2}\d+\|-?\d+$/, '... and through a cursor, fetched in parts');
# read with another role's rights: refused before anything is charged
sub refused_uncharged
{
	my ($role, $sql, $expect, $name) = @_;
	my ($out, $err);
	$coord->psql('postgres', "SET ROLE $role; $sql", stdout => \$out, stderr => \$err);
	like($err, $expect, $name);
	is($coord->safe_psql('postgres',
			qq{SELECT charges FROM privstat.budget_status WHERE role = '$role'::regrole}),
		'0', '... before anything is charged');
}
$coord->safe_psql('postgres', q{
	CREATE VIEW events_view AS SELECT uid, v FROM events;
	CREATE ROLE citus_viewer LOGIN;
	GRANT USAGE ON SCHEMA privstat TO citus_viewer;
	GRANT SELECT ON events_view TO citus_viewer;
	SELECT privstat.set_budget('citus_viewer', 100);
});
{
	my ($v_out, $v_err);
	$coord->psql('postgres', 'SET ROLE citus_viewer; SELECT privstat.dp_count(uid, 100) FROM events_view',
		stdout => \$v_out, stderr => \$v_err);
	ok($v_err eq '' && abs($v_out - 2000) <= 2,
		"a view over a distributed table, read with its owner's rights: answers ($v_out for 2000)") or diag($v_err);
	is($coord->safe_psql('postgres', q{SELECT charges FROM privstat.budget_status WHERE role = 'citus_viewer'::regrole}),
		'1', '... charged once');
	$coord->safe_psql('postgres', q{SELECT privstat.set_budget('citus_viewer', 200)});
	$coord->psql('postgres', 'SET ROLE citus_viewer; SELECT privstat.dp_count(uid, 100) FROM events',
		stdout => \$v_out, stderr => \$v_err);
	like($v_err, qr/permission denied for table events/, '... while the table itself stays closed to the role');
}

$coord->safe_psql('postgres', q{
	SELECT privstat.protect('events', 'uid');
	CREATE ROLE citus_restricted LOGIN;
	GRANT USAGE ON SCHEMA privstat TO citus_restricted;
	SELECT privstat.set_access('citus_restricted', 'aggregate');
	SELECT privstat.set_budget('citus_restricted', 100, 1);
});
# a restricted role through the coordinator: its validated statement reads
# the rows through _citus_reader_rows, as the table's owner, and gets DP
# answers only, charged once (noise of scale 1 or 2 at epsilon 1: margins
# of 25 scales, false failure below 1e-10)
sub restricted
{
	my ($sql) = @_;
	my ($out, $err);
	$coord->psql('postgres', "SET ROLE citus_restricted; $sql", stdout => \$out, stderr => \$err);
	return ($out, $err);
}
$coord->safe_psql('postgres', q{SELECT privstat.set_bounds('events', 'v', 0, 49)});
my ($r_out, $r_err) = restricted('SELECT count(*) FROM events');
like($r_out, qr/^\d+$/, 'a restricted role\'s count(*) over a distributed table answers') or diag($r_err);
ok(abs($r_out - 2000) <= 25, "... with noise ($r_out for 2000 rows)");
is($coord->safe_psql('postgres', q{SELECT charges || ' ' || epsilon_spent FROM privstat.budget_status WHERE role = 'citus_restricted'::regrole}),
	'1 1', '... charged once, on the coordinator');
($r_out, $r_err) = restricted('SELECT avg(v) FROM events');
ok($r_err eq '' && abs($r_out - 24.5) < 1, "a restricted role's avg over a distributed table: $r_out for 24.5") or diag($r_err);
($r_out, $r_err) = restricted('SELECT v < 25 AS low, count(*) FROM events GROUP BY 1 ORDER BY 1');
like($r_out, qr/^f\|\d+\nt\|\d+$/, 'a restricted role\'s grouped count over a distributed table answers') or diag($r_err);
my @low = $r_out =~ /\|(\d+)/g;
ok(@low == 2 && abs($low[0] - 1000) <= 50 && abs($low[1] - 1000) <= 50, "... with noise (@low for 1000 and 1000)");
my $r_plan = $coord->safe_psql('postgres', 'SET ROLE citus_restricted; EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM events');
like($r_plan, qr/Function Scan on privstat\._citus_reader_rows events/,
	'EXPLAIN: the rows come through privstat._citus_reader_rows');
my ($reader_call) = $r_plan =~ /Function Call: (privstat\._citus_reader_rows\([^\n]*\))/;
ok(defined $reader_call, '... whose call EXPLAIN VERBOSE shows') or diag($r_plan);
($r_out, $r_err) = restricted("SELECT * FROM $reader_call AS t(uid int, v int)");
like($r_err, qr/privstat\._citus_reader_rows runs only in the statement privstat rewrote for it/,
	'the call copied into a statement of the restricted role does not run');
$coord->psql('postgres', "SELECT * FROM $reader_call AS t(uid int, v int)", stdout => \$out, stderr => \$err);
like($err, qr/runs only in the statement privstat rewrote for it/, '... nor of a superuser');
($r_out, $r_err) = restricted("SELECT count(*) FROM events UNION ALL SELECT count(*) FROM $reader_call AS t(uid int, v int)");
like($r_err, qr/privstat\._citus_reader_rows runs only in the statement privstat rewrote for it/,
	'... nor beside the rewritten call in one statement');
($r_out, $r_err) = restricted('EXPLAIN ANALYZE SELECT count(*) FROM events');
like($r_err, qr/EXPLAIN ANALYZE of a query over protected tables is not allowed/,
	'EXPLAIN ANALYZE of a restricted role\'s query over a distributed table is refused (exact row counts)');
($r_out, $r_err) = restricted('SELECT uid FROM events LIMIT 1');
like($r_err, qr/protected table events/, 'the restricted role still reads no row of the distributed table');
# three answers, and the statement beside the copied call, charged when it
# started (a charge is never refunded); what was refused at planning charged nothing
is($coord->safe_psql('postgres', q{SELECT charges FROM privstat.budget_status WHERE role = 'citus_restricted'::regrole}),
	'4', '... and what was refused at planning charged nothing');
# a protected table read through a view inside a row security policy of the
# restricted role's own table: not validated, so refused (it was read with
# the view owner's rights, raw)
$coord->safe_psql('postgres', q{
	CREATE ROLE citus_viewowner;
	GRANT SELECT ON events TO citus_viewowner;
	CREATE VIEW owned_view AS SELECT uid, v FROM events;
	ALTER VIEW owned_view OWNER TO citus_viewowner;
	GRANT SELECT ON owned_view TO citus_restricted;
});
($r_out, $r_err) = restricted(q{CREATE TEMP TABLE mine (x int); INSERT INTO mine VALUES (1);
	ALTER TABLE mine ENABLE ROW LEVEL SECURITY; ALTER TABLE mine FORCE ROW LEVEL SECURITY;
	CREATE POLICY peek ON mine USING ((SELECT count(*) FROM owned_view WHERE uid = 7) > 0);
	SELECT x, (SELECT privstat.dp_count(uid, 1) FROM events) FROM mine});
like($r_err, qr/was not validated for a role at access level aggregate|permission denied|not allowed/,
	'a protected distributed table read with a view owner\'s rights inside a policy of the restricted role is refused')
  or diag("out: $r_out");
unlike($r_out, qr/^1\|/, '... and nothing is answered');
$coord->safe_psql('postgres', q{REVOKE SELECT ON events FROM citus_viewowner});
# a statement that writes a distributed table is planned by Citus, which may
# keep a part of it (the gathered rows) as an intermediate result anyone reads
$coord->safe_psql('postgres', q{
	CREATE TABLE analyst_out (k int, n bigint);
	SELECT create_distributed_table('analyst_out', 'k');
	CREATE TABLE analyst_local (n bigint);
	GRANT INSERT, SELECT ON analyst_out, analyst_local TO citus_restricted;
});
($r_out, $r_err) = restricted('INSERT INTO analyst_out SELECT 1, count(*) FROM events');
like($r_err, qr/a statement that writes Citus table "analyst_out" cannot read Citus tables under row security or with another role's rights/,
	'a restricted role\'s INSERT into a distributed table of what it reads from a protected one is refused');
($r_out, $r_err) = restricted('INSERT INTO analyst_local SELECT count(*) FROM events; SELECT n FROM analyst_local');
ok($r_err eq '' && abs($r_out - 2000) <= 25, "... into a local table, it writes the DP answer ($r_out)") or diag($r_err);
# columns the statement does not use are not read (a NULL would not fit a NOT NULL domain)
$coord->safe_psql('postgres', q{
	CREATE DOMAIN tag_text AS text NOT NULL;
	CREATE TABLE tagged (uid int, tag tag_text);
	SELECT create_distributed_table('tagged', 'uid');
	INSERT INTO tagged SELECT g, 't' FROM generate_series(1, 300) g;
	SELECT privstat.protect('tagged', 'uid');
});
($r_out, $r_err) = restricted('SELECT count(*) FROM tagged');
ok($r_err eq '' && abs($r_out - 300) <= 25, "a column of a NOT NULL domain that the statement does not use is not read ($r_out)")
  or diag($r_err);
is($coord->safe_psql('postgres',
		'SELECT privstat.dp_count(t.uid, 100) BETWEEN 299 AND 301 FROM tagged t JOIN kinds k ON k.v = t.uid % 50'), 't',
	'... by the owner\'s statements that gather rows either');
# pg_stat_statements (track = all on the coordinator) keeps no row count of the gathering SELECT
$coord->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
($r_out, $r_err) = restricted('SELECT count(*) FROM events');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%FROM public.events%'}), '0',
	'pg_stat_statements keeps nothing (no row count) of the SELECT that gathers a restricted role\'s rows')
  or diag($coord->safe_psql('postgres', q{SELECT query, rows FROM pg_stat_statements}));
# contribution bounding with a privacy unit that is not the distribution
# column: every row of a unit comes to the coordinator, which bounds it
$coord->safe_psql('postgres', q{
	CREATE TABLE orders (id int, customer int, amount int);
	SELECT create_distributed_table('orders', 'id');
	INSERT INTO orders SELECT g, g % 100, 10 FROM generate_series(1, 500) g;
	SELECT privstat.protect('orders', 'customer');
	SELECT privstat.set_bounds('orders', 'amount', 0, 10);
});
($r_out, $r_err) = restricted('SELECT count(*) FROM orders');
ok($r_err eq '' && abs($r_out - 100) <= 25,
	"contribution bounding by a unit that is not the distribution column: one row per customer ($r_out for 100 customers of 5 rows)")
  or diag($r_err);
# a table with row security: the owner reads it for the coordinator, which applies the policies
$coord->safe_psql('postgres', q{
	CREATE TABLE secured (uid int, v int);
	SELECT create_distributed_table('secured', 'uid');
	INSERT INTO secured SELECT g, g FROM generate_series(1, 100) g;
	SELECT privstat.protect('secured', 'uid');
	ALTER TABLE secured ENABLE ROW LEVEL SECURITY;
	CREATE POLICY low ON secured USING (v < 50);
});
($r_out, $r_err) = restricted('SELECT count(*) FROM secured');
ok($r_err eq '' && abs($r_out - 49) <= 25,
	"a restricted role's count over a distributed table with a row-level policy: $r_out for the 49 rows it allows")
  or diag($r_err);
my $shard = $coord->safe_psql('postgres', sprintf(q{
	SELECT shard_name FROM citus_shards WHERE table_name = 'events'::regclass AND nodeport = %d
	ORDER BY shardid LIMIT 1}, $workers[0]->port));
$workers[0]->psql('postgres', "SET ROLE citus_restricted; SELECT count(*) FROM $shard",
	stdout => \$out, stderr => \$err);
like($err, qr/permission denied for table $shard/, 'the restricted role cannot read a shard on a worker');

# a key rotation on the coordinator reaches every worker
$coord->safe_psql('postgres', q{
	CREATE TABLE accounts (uid privstat.pseudonym, plan text);
	SELECT create_distributed_table('accounts', 'plan');
	INSERT INTO accounts VALUES (privstat.pseudonymize('u1'), 'free'), (privstat.pseudonymize('u2'), 'paid');
});
is($coord->safe_psql('postgres', q{SELECT privstat.rotate_key('default')}), '2', 'rotate_key on the coordinator');
is(join(',', map { $_->safe_psql('postgres',
			q{SELECT version FROM privstat.key_version WHERE domain = 'default'}) } @workers),
	'2,2', '... sets the new version on every worker');
is($workers[1]->safe_psql('postgres', q{SELECT privstat.pseudonymize('u3')::text}),
	$coord->safe_psql('postgres', q{SELECT privstat.pseudonymize('u3')::text}),
	'a worker pseudonymizes with the new version, as the coordinator does');
$coord->safe_psql('postgres', q{
	INSERT INTO accounts VALUES (privstat.pseudonymize('u3'), 'free'), (privstat.pseudonymize('u4'), 'paid');
});
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM accounts WHERE uid IN (privstat.pseudonymize('u3', 'default'), privstat.pseudonymize('u4'))}),
	'2', 'rows written after the rotation are found by their pseudonyms on every shard');
$workers[0]->psql('postgres', q{SELECT privstat.rotate_key('default')}, stdout => \$out, stderr => \$err);
like($err, qr/keys are rotated on the Citus coordinator, not on a worker/, 'rotate_key on a worker is refused');
$workers[1]->stop;
$coord->psql('postgres', q{SELECT privstat.rotate_key('default')}, stdout => \$out, stderr => \$err);
like($err, qr/Citus worker .* did not take key version 3 of domain "default"/,
	'with a worker down, rotate_key fails, saying which worker');
is($coord->safe_psql('postgres', q{SELECT version FROM privstat.key_version WHERE domain = 'default'}),
	'2', '... and the coordinator keeps its version');
$workers[1]->start;
is($coord->safe_psql('postgres', q{SELECT privstat.rotate_key('default')}), '3',
	'run again with every worker up, it rotates');
is(join(',', map { $_->safe_psql('postgres',
			q{SELECT version FROM privstat.key_version WHERE domain = 'default'}) } @workers),
	'3,3', '... and every node has the same version');

# consent and scopes on a distributed table: the coordinator reads the rows
# as the owner and applies the rules there (the workers do not have them)
$coord->safe_psql('postgres', q{
	CREATE TABLE consented (uid int, purposes text[], at timestamptz);
	SELECT create_distributed_table('consented', 'uid');
	INSERT INTO consented SELECT g, CASE WHEN g % 2 = 0 THEN '{analytics}'::text[] ELSE '{}' END, now()
	FROM generate_series(1, 1000) g;
	GRANT SELECT, INSERT ON consented TO citus_analyst;
	SELECT privstat.grant_purpose('citus_analyst', 'analytics');
	SELECT privstat.set_consent('consented', 'purposes');
});
sub as_analyst
{
	my ($node, $sql) = @_;
	my ($o, $e);
	$node->psql('postgres', "SET ROLE citus_analyst; SET privstat.purpose = 'analytics'; $sql",
		stdout => \$o, stderr => \$e);
	return ($o, $e);
}
my ($a_out, $a_err) = as_analyst($coord, 'SELECT count(*) FROM consented');
is($a_out, '500', 'a consent rule on a distributed table: a reader sees the rows consented to its purpose')
  or diag($a_err);
($a_out, $a_err) = as_analyst($coord, 'SELECT count(*) FROM consented WHERE uid <= 10');
is($a_out, '5', '... with its own conditions too');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM consented'), '1000', '... and the owner sees every row');
$coord->safe_psql('postgres', q{SELECT privstat.set_scope('consented', 'citus_analyst', 'uid > 100')});
($a_out, $a_err) = as_analyst($coord, 'SELECT count(*) FROM consented');
is($a_out, '450', 'a scope on a distributed table narrows what the reader sees') or diag($a_err);
($a_out, $a_err) = as_analyst($coord, 'COPY consented (uid) TO STDOUT');
my @copied = split /\n/, $a_out;
is(scalar(@copied), 450, 'COPY TO of a distributed table under consent and a scope copies the rows the reader sees')
  or diag($a_err);
is(scalar(grep { $_ % 2 || $_ <= 100 } @copied), 0, '... and no other');
($a_out, $a_err) = as_analyst($coord, 'SELECT privstat.dp_count(uid, 100) FROM consented');
ok($a_err eq '' && abs($a_out - 450) <= 2, "... in its DP queries too ($a_out for 450)") or diag($a_err);
($a_out, $a_err) = as_analyst($coord, 'EXPLAIN (COSTS OFF) SELECT count(*) FROM consented');
like($a_out, qr/Function Scan on _citus_reader_rows consented/, '... read through _citus_reader_rows');
($a_out, $a_err) = as_analyst($workers[0], 'SELECT count(*) FROM consented');
ok($a_out eq '0' || $a_err =~ /ERROR/, 'on a worker, which has not the rules, the reader gets no row')
  or diag("$a_out $a_err");
($a_out, $a_err) = as_analyst($coord, q{INSERT INTO consented VALUES (5000, '{analytics}', now()), (5001, '{}', now())});
is($a_err, '', 'another role than the owner INSERTs into a distributed table under consent (privstat\'s INSERT policy on the shards)');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM consented WHERE uid >= 5000'), '2', '... both rows');

# UPDATE and DELETE by another role than the owner under the rules: run on
# the workers as the owner, with the rules in the WHERE clause.  Each
# statement runs on the distributed table and on a one-server twin (same
# rows, rules and rights): the same answers, errors and rows left.
$coord->safe_psql('postgres', q{
	CREATE TABLE twin (uid int, purposes text[], at timestamptz, v int);
	ALTER TABLE consented ADD COLUMN v int;
	UPDATE consented SET v = uid, at = '2026-01-01';
	INSERT INTO twin SELECT uid, purposes, at, v FROM consented;
	GRANT SELECT, INSERT, UPDATE, DELETE ON consented, twin TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_consent('twin', 'purposes');
	SELECT privstat.set_scope('twin', 'citus_analyst', 'uid > 100');
});
sub both_tables
{
	my ($sql, $name) = @_;
	my ($d_out, $d_err) = as_analyst($coord, $sql =~ s/\bTBL\b/consented/gr);
	my ($t_out, $t_err) = as_analyst($coord, $sql =~ s/\bTBL\b/twin/gr);
	s/"(consented|twin)"/"TBL"/g for ($d_err, $t_err);
	# RETURNING gives the rows in the order they are changed
	$_ = join("\n", sort { $a cmp $b } split /\n/, $_) for ($d_out, $t_out);
	s/^.*(ERROR:  [^\n]*).*$/$1/s for ($d_err, $t_err);
	is("$d_out|$d_err", "$t_out|$t_err", "$name: as on one server ($t_out$t_err)");
	return ($d_out, $d_err);
}
sub rows_of
{
	my ($table) = @_;
	return $coord->safe_psql('postgres',
		"SELECT string_agg(uid || ':' || coalesce(v::text, '-') || ':' || array_to_string(purposes, '+'), ',' ORDER BY uid) FROM $table");
}
my ($u_out, $u_err) = both_tables('UPDATE TBL SET v = v + 1000 WHERE uid <= 120 RETURNING uid, v',
	'UPDATE ... RETURNING of the rows the rules show');
is($u_out, join("\n", map { "$_|" . ($_ + 1000) } grep { $_ % 2 == 0 } 101 .. 120),
	'... the rows consented to the purpose and in the scope, and only them');
both_tables('UPDATE TBL SET v = 1 / (v - 105) WHERE uid < 110', 'a SET value that would fail on a row the rules hide (105)');
both_tables(q{UPDATE TBL SET purposes = '{}' WHERE uid = 102}, 'an UPDATE that would take a row out of the role\'s sight');
both_tables(q{UPDATE TBL SET uid = uid, purposes = '{analytics,research}' WHERE uid = 104}, 'an UPDATE that keeps it in sight');
both_tables(q{UPDATE TBL SET v = v + 1 WHERE purposes[1] LIKE 'ana%' AND uid < 130}, 'a LIKE with a constant pattern (total)');
both_tables('UPDATE TBL SET v = -v', 'an UPDATE of every row it sees');
both_tables('DELETE FROM TBL WHERE uid BETWEEN 100 AND 110 RETURNING uid', 'DELETE ... RETURNING');
both_tables('DELETE FROM TBL WHERE v = -130', 'DELETE of one row');
both_tables(q{SET privstat.purpose = ''; UPDATE TBL SET v = 0 WHERE uid > 100}, 'without a purpose');
both_tables(q{PREPARE u(int) AS UPDATE TBL SET v = v - 1 WHERE uid = $1; EXECUTE u(150); EXECUTE u(150); EXECUTE u(150);
	EXECUTE u(150); EXECUTE u(150); EXECUTE u(150); SET privstat.purpose = ''; EXECUTE u(150);
	SET privstat.purpose = 'analytics'; EXECUTE u(150)}, 'a prepared UPDATE follows SET privstat.purpose');
is(rows_of('consented'), rows_of('twin'), 'the distributed table and its twin hold the same rows');
($a_out, $a_err) = as_analyst($workers[0], 'UPDATE consented SET v = 0');
ok($a_out eq '' && ($a_err eq '' || $a_err =~ /ERROR/), 'on a worker, which has not the rules, the role changes nothing')
  or diag("$a_out $a_err");
is(rows_of('consented'), rows_of('twin'), '... nothing');
for my $refused (
	[ 'UPDATE consented SET v = 1 WHERE v / (v - 7) > 0', qr/a condition on a column that can fail/,
		'a condition that may fail on a row the rules hide' ],
	[ q{UPDATE consented SET v = 1 WHERE uid::text::int > 5}, qr/a condition on a column that can fail/,
		'a cast through text' ],
	[ 'UPDATE consented SET purposes = ARRAY[current_user::text] WHERE uid = 200', qr/CURRENT_USER, CURRENT_ROLE/,
		'current_user, which would be the owner on the workers' ],
	[ q{UPDATE consented SET v = length(to_char(at, 'YYYY')) WHERE uid = 200},
		qr/a function that is not a built-in immutable one/, 'a function that is not immutable, on a column' ],
	[ 'UPDATE consented SET v = length(pg_read_file(uid::text)) WHERE uid = 200',
		qr/permission denied for a function of the UPDATE or DELETE of Citus table "consented"/,
		'a function the role may not execute (the workers would check it for the owner)' ],
	[ 'UPDATE consented SET v = (SELECT max(v) FROM events) WHERE uid = 200', qr/another table, a view, a subquery/,
		'a subquery' ],
	[ 'DELETE FROM consented USING events WHERE events.uid = consented.uid', qr/another table, a view, a subquery/,
		'another table' ],
	[ 'WITH x AS (SELECT 1) UPDATE consented SET v = 1 WHERE uid = 200', qr/another table, a view, a subquery/,
		'a WITH query' ],
	[ 'WITH d AS (DELETE FROM consented WHERE uid = 200 RETURNING uid) SELECT count(*) FROM d',
		qr/MERGE, INSERT ... ON CONFLICT DO UPDATE, and UPDATE or DELETE in a WITH query, of Citus table "consented"/,
		'a DELETE in a WITH query (it would delete nothing, the shards show the role no row)' ],
	[ q{MERGE INTO consented c USING (VALUES (200, 5)) s(uid, v) ON c.uid = s.uid WHEN MATCHED THEN UPDATE SET v = s.v
		WHEN NOT MATCHED THEN INSERT VALUES (s.uid, '{analytics}', now(), s.v)}, qr/MERGE, INSERT ... ON CONFLICT DO UPDATE/,
		'a MERGE (it would insert the rows it should have matched)' ])
{
	($a_out, $a_err) = as_analyst($coord, $refused->[0]);
	like($a_err, $refused->[1], "refused: $refused->[2]");
}
# the first review's attacks: a value whose type's input function or check
# would run as the owner on a worker; a column read through an array
# coercion's element expression (a CaseTestExpr, not a Var); a rule of the
# role's own table, fired by a superuser
$coord->safe_psql('postgres', q{CREATE SCHEMA rv AUTHORIZATION citus_analyst});
as_analyst($coord, q{CREATE DOMAIN rv.positive AS int CHECK (VALUE > 0);
	CREATE TABLE rv.t (x int);
	CREATE RULE touch AS ON INSERT TO rv.t DO ALSO UPDATE public.consented SET v = v + 1 WHERE v > 0;
	CREATE OPERATOR rv.=== (FUNCTION = int4eq, LEFTARG = int, RIGHTARG = int)});
for my $refused (
	[ q{UPDATE consented SET v = v WHERE uid = 200 AND '{1}'::rv.positive[] IS NOT NULL},
		qr/a value of type rv\.positive\[\] cannot be used/, 'a constant of a domain of the role\'s (its check would run as the owner)' ],
	[ q{UPDATE consented SET v = v WHERE uid <> 3 AND (CASE WHEN true THEN ARRAY[purposes[1]] END)::int[] IS NULL},
		qr/a cast of an array column element by element/, 'a cast of a column inside an array coercion' ],
	[ q{UPDATE consented SET v = v WHERE ARRAY[purposes, ARRAY['x']] IS NOT NULL},
		qr/a condition on a column that can fail/, 'arrays of unequal dimensions (as on protected rows)' ],
	[ q{UPDATE consented SET v = v WHERE uid <> 3 AND CASE v WHEN 3 THEN (purposes[1])::int > 0 END},
		qr/CASE x WHEN ... on a column/, 'CASE x WHEN (Citus would evaluate its placeholder on the coordinator)' ],
	[ q{UPDATE consented SET v = v WHERE uid <> 3 AND CASE WHEN v = 3 THEN (purposes[1])::int > 0 END},
		qr/a condition on a column that can fail/, 'a cast of a column inside a CASE arm' ],
	[ q{UPDATE consented SET v = CASE uid WHEN 1 THEN 0 ELSE v END WHERE uid = 200 AND current_date > '2020-01-01'},
		qr/CURRENT_DATE, CURRENT_TIME, LOCALTIME or LOCALTIMESTAMP/, 'CURRENT_DATE (the worker\'s time zone)' ],
	[ 'UPDATE consented SET v = v WHERE NOT (uid OPERATOR(rv.===) 200)', qr/operator rv\.===/,
		'an operator of the role\'s (the workers find it by name, and may use its negator)' ],
	[ q{SET citus.propagate_set_commands = local; BEGIN; SET LOCAL search_path = rv, pg_catalog;
		UPDATE public.consented SET v = v WHERE uid = 200; COMMIT},
		qr/cannot follow a SET LOCAL that Citus passed on to the workers/,
		'after a SET LOCAL that Citus sends on the owner\'s connections too' ],
	[ q{SET citus.propagate_set_commands = local; BEGIN; RESET search_path \\; SET search_path = rv, pg_catalog; COMMIT},
		qr/must be a statement of its own/, 'a RESET that Citus passes on with a SET in its string (the third review\'s)' ],
	[ q{SET citus.propagate_set_commands = local;
		DO $$BEGIN EXECUTE 'RESET search_path; SET search_path = rv, pg_catalog'; END$$},
		qr/must be a statement of its own/, '... in a DO block' ],
	[ q{SET citus.propagate_set_commands = local; BEGIN; UPDATE public.consented SET v = v WHERE uid = 200;
		SET LOCAL search_path = rv, pg_catalog; COMMIT},
		qr/before any UPDATE or DELETE under consent, scope or retention rules in its transaction/,
		'a SET LOCAL that Citus passes on, after a change under the rules (the owner\'s connections are open)' ],
	[ q{SET citus.propagate_set_commands = local;
		DO $$BEGIN SET LOCAL search_path = rv, pg_catalog; UPDATE public.consented SET v = v WHERE uid = 200; END$$},
		qr/cannot follow a SET LOCAL that Citus passed on to the workers/, '... or before it, in a DO block' ],
	[ 'UPDATE consented SET uid = uid WHERE uid = 200', qr/an UPDATE of the distribution column alone/,
		'an UPDATE of the distribution column alone (its new row\'s check has no other value to wrap)' ])
{
	($a_out, $a_err) = as_analyst($coord, $refused->[0]);
	like($a_err, $refused->[1], "refused: $refused->[2]");
}
$coord->psql('postgres', q{SET privstat.purpose = 'analytics'; INSERT INTO rv.t VALUES (1)}, stdout => \$out, stderr => \$err);
like($err, qr/a rule or a view of another role cannot be used/,
	'a rule of the role\'s own table that changes the distributed table, fired by a superuser: refused');
is(rows_of('consented'), rows_of('twin'), '... and the refusals changed nothing');
($a_out, $a_err) = as_analyst($coord, q{UPDATE consented SET purposes[2] = 'research' WHERE uid = 150});
like($a_err, qr/an assignment to an element or a field of a column cannot be used/,
	'an assignment to an array element, which the new row\'s check would read: refused, saying why');
both_tables(q{UPDATE TBL SET purposes = array_append(purposes, 'research') WHERE uid = 150}, 'the whole array assigned');
# a shard on the coordinator: Citus's local execution would plan its
# statement once, as the role, and keep that plan for a prepared statement
$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_node_property('%s', %d, 'shouldhaveshards', true)},
	$coord->host, $coord->port));
$coord->safe_psql('postgres', q{
	CREATE TABLE on_coord (uid int, purposes text[], v int);
	SELECT create_distributed_table('on_coord', 'uid', colocate_with => 'none');
	INSERT INTO on_coord SELECT g, '{analytics}', 0 FROM generate_series(1, 40) g;
	GRANT SELECT, UPDATE ON on_coord TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_consent('on_coord', 'purposes');
});
$coord->safe_psql('postgres', sprintf(q{SELECT citus_set_node_property('%s', %d, 'shouldhaveshards', false)},
	$coord->host, $coord->port));
my $local_uid = $coord->safe_psql('postgres', q{
	SELECT min(uid) FROM on_coord WHERE get_shard_id_for_distribution_column('on_coord', uid) IN
		(SELECT shardid FROM pg_dist_placement WHERE groupid = 0)});
ok($local_uid ne '', "a row whose shard is on the coordinator ($local_uid)");
($a_out, $a_err) = as_analyst($coord, qq{SET plan_cache_mode = force_generic_plan;
	PREPARE bump(int) AS UPDATE on_coord SET v = v + 1 WHERE uid = \$1 RETURNING v;
	EXECUTE bump($local_uid); EXECUTE bump($local_uid); EXECUTE bump($local_uid)});
is($a_out, "1\n2\n3", 'a prepared UPDATE (generic plan) of a row in a shard on the coordinator changes it every time')
  or diag($a_err);
($a_out, $a_err) = as_analyst($coord, qq{BEGIN; SELECT count(*) FROM on_coord; UPDATE on_coord SET v = 0 WHERE uid = $local_uid; COMMIT});
like($a_err, qr/cannot switch local execution status/,
	'a read, then a change under the rules, of a table with a shard on the coordinator, in one transaction: Citus refuses, as documented');
$coord->safe_psql('postgres', q{REVOKE UPDATE, DELETE ON consented FROM citus_analyst});
($a_out, $a_err) = as_analyst($coord, 'UPDATE consented SET v = 0 WHERE uid = 200');
like($a_err, qr/permission denied for table consented/, 'the role\'s own rights are checked: without UPDATE, refused');
$coord->safe_psql('postgres', q{GRANT UPDATE, DELETE ON consented TO citus_analyst});
($a_out, $a_err) = as_analyst($coord,
	q{BEGIN; INSERT INTO consented VALUES (6000, '{analytics}', now(), 1); UPDATE consented SET v = 2 WHERE uid = 6000; COMMIT});
like($a_err, qr/modified in this transaction by a different user/,
	'an INSERT (as the role) and an UPDATE (as the owner) of one shard in one transaction: Citus refuses, as documented');
# an error's detail from a worker, where the owner sees every row, would show
# a hidden row's key: withheld, as PostgreSQL withholds it under row security
$coord->safe_psql('postgres', q{
	CREATE TABLE keyed (uid int, k int, purposes text[], PRIMARY KEY (uid, k));
	SELECT create_distributed_table('keyed', 'uid');
	INSERT INTO keyed VALUES (1, 1, '{analytics}'), (1, 2, '{}');
	CREATE TABLE keyed_twin (uid int, k int, purposes text[], PRIMARY KEY (uid, k));
	INSERT INTO keyed_twin SELECT * FROM keyed;
	GRANT SELECT, UPDATE ON keyed, keyed_twin TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_consent('keyed', 'purposes');
	SELECT privstat.set_consent('keyed_twin', 'purposes');
});
($a_out, $a_err) = as_analyst($coord, 'UPDATE keyed_twin SET k = 2 WHERE uid = 1 AND k = 1');
unlike($a_err, qr/Key \(/, 'one server: a duplicate key under row security shows no key') or diag($a_err);
($a_out, $a_err) = as_analyst($coord, 'UPDATE keyed SET k = 2 WHERE uid = 1 AND k = 1');
like($a_err, qr/duplicate key value violates unique constraint/, 'Citus: the same error');
unlike($a_err, qr/Key \(/, '... without the hidden row\'s key') or diag($a_err);
like($a_err, qr/privstat withholds the detail/, '... saying why');
# the fourth review's: a deferred constraint fails at COMMIT, with the
# worker's detail; a rule on a generated column; EXPLAIN ANALYZE's counts
# of hidden rows; a worker reading the text with standard_conforming_strings off
$coord->safe_psql('postgres', q{
	CREATE TABLE deferred_keys (uid int, k int, purposes text[], UNIQUE (uid, k) DEFERRABLE INITIALLY DEFERRED);
	SELECT create_distributed_table('deferred_keys', 'uid');
	CREATE TABLE generated_region (uid int, code int,
		region text GENERATED ALWAYS AS (CASE WHEN code < 10 THEN 'EU' ELSE 'US' END) STORED);
	SELECT create_distributed_table('generated_region', 'uid');
	INSERT INTO generated_region (uid, code) SELECT g, g FROM generate_series(1, 20) g;
	GRANT SELECT, UPDATE ON deferred_keys, generated_region TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_consent('deferred_keys', 'purposes');
	SELECT privstat.set_scope('generated_region', 'citus_analyst', $$region = 'EU'$$);
});
($a_out, $a_err) = as_analyst($coord, 'UPDATE deferred_keys SET k = 2 WHERE uid = 1');
like($a_err, qr/a table \(or a partition\) with a deferrable constraint or a trigger of its own cannot be used/,
	'a table with a deferrable constraint: refused (its error would come at COMMIT, with the worker\'s detail)');
# the fifth review's: a trigger (on the table or a partition) runs on the
# workers as the owner, reads every row and may notice them to the role
$coord->safe_psql('postgres', q{
	CREATE TABLE parted (uid int, k int, purposes text[], v int) PARTITION BY RANGE (k);
	CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (10);
	CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (10) TO (100);
	SELECT create_distributed_table('parted', 'uid');
	INSERT INTO parted SELECT g, g, '{analytics}', 0 FROM generate_series(1, 20) g;
	GRANT SELECT, UPDATE, DELETE ON parted TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_consent('parted', 'purposes');
	CREATE FUNCTION tell() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE NOTICE 'as %', current_user; RETURN NEW; END$$;
});
($a_out, $a_err) = as_analyst($coord, 'UPDATE parted SET v = 1 WHERE uid = 15');
is($a_err, '', 'a partitioned distributed table under consent: its UPDATE runs') or diag($a_err);
$coord->safe_psql('postgres', q{SET citus.enable_unsafe_triggers = on;
	CREATE TRIGGER tell BEFORE UPDATE ON parted_high FOR EACH ROW EXECUTE FUNCTION tell()});
($a_out, $a_err) = as_analyst($coord, 'UPDATE parted SET v = 2 WHERE uid = 15');
like($a_err, qr/a table \(or a partition\) with a deferrable constraint or a trigger of its own cannot be used/,
	'... with a trigger on a partition: refused (it would run as the owner on the workers)');
$coord->safe_psql('postgres', q{SET citus.enable_unsafe_triggers = on; DROP TRIGGER tell ON parted_high;
	CREATE TRIGGER tell AFTER DELETE ON parted FOR EACH ROW EXECUTE FUNCTION tell()});
($a_out, $a_err) = as_analyst($coord, 'DELETE FROM parted WHERE uid = 15');
like($a_err, qr/a trigger of its own cannot be used/, '... and a DELETE with an AFTER trigger on the table');
($a_out, $a_err) = as_analyst($coord, 'UPDATE generated_region SET code = 50 WHERE uid = 1');
like($a_err, qr/a rule on a generated column cannot be used/,
	'a scope on a generated column: refused (the new row\'s check would read its old value)');
($a_out, $a_err) = as_analyst($coord, 'EXPLAIN (ANALYZE) UPDATE consented SET v = v WHERE uid > 0');
like($a_err, qr/EXPLAIN ANALYZE of an UPDATE or DELETE under consent, scope or retention rules of a Citus table is not supported/,
	'EXPLAIN ANALYZE: refused (the workers\' plans would count the hidden rows)');
($a_out, $a_err) = as_analyst($coord, 'EXPLAIN (COSTS OFF) UPDATE consented SET v = v WHERE uid > 0');
like($a_out, qr/Custom Scan \(Citus/, '... EXPLAIN works') or diag($a_err);
$workers[0]->safe_psql('postgres', 'ALTER SYSTEM SET standard_conforming_strings = off; SELECT pg_reload_conf()');
($a_out, $a_err) = as_analyst($coord, 'UPDATE consented SET v = v WHERE uid > 0');
like($a_err, qr/privstat needs standard_conforming_strings and array_nulls on, on every Citus node/,
	'a worker with standard_conforming_strings off refuses the statements it would misread');
$workers[0]->safe_psql('postgres', 'ALTER SYSTEM RESET standard_conforming_strings; SELECT pg_reload_conf()');
is(rows_of('consented'), rows_of('twin'), '... and nothing changed');
# the sixth review's: a DBA's domain whose check calls a function of the
# DBA's, on a value of a column: it would run on the workers as the owner
$coord->safe_psql('postgres', q{
	CREATE FUNCTION looked_up(t text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RETURN t <> ''; END$$;
	CREATE DOMAIN looked_up_text AS text CHECK (looked_up(VALUE));
	CREATE TABLE domained (uid int, e looked_up_text, purposes text[]);
	SELECT create_distributed_table('domained', 'uid');
	INSERT INTO domained VALUES (1, 'a', '{analytics}');
	GRANT SELECT, UPDATE ON domained TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_consent('domained', 'purposes');
});
($a_out, $a_err) = as_analyst($coord, q{UPDATE domained SET e = e || 'x' WHERE uid = 1});
like($a_err, qr/put through a domain whose check calls a function that is not a built-in immutable one/,
	'a value of a column put through the DBA\'s domain with a function of its own: refused');
($a_out, $a_err) = as_analyst($coord, q{UPDATE domained SET e = 'b' WHERE uid = 1 RETURNING e});
is("$a_out|$a_err", 'b|', '... a constant, whose check Citus runs on the coordinator as the role, goes in');
# a scope that privstat made total (its division replaced): sent to the
# workers as the replacement, never as PostgreSQL's division
$coord->safe_psql('postgres', q{
	CREATE TABLE scoped (uid int, v int);
	SELECT create_distributed_table('scoped', 'uid');
	INSERT INTO scoped SELECT g, g FROM generate_series(1, 50) g;
	GRANT SELECT, UPDATE ON scoped TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_scope('scoped', 'citus_analyst', 'uid < 40 OR 1000 / (uid - 42) = 7');
});
($a_out, $a_err) = as_analyst($coord, 'UPDATE scoped SET v = -v WHERE uid = 42 RETURNING uid');
is("$a_out|$a_err", '|', 'a scope\'s division on a hidden row fails nowhere (privstat\'s total version on the workers)');
($a_out, $a_err) = as_analyst($coord, 'UPDATE scoped SET v = -v WHERE uid IN (1, 41, 43) RETURNING uid');
is("$a_out|$a_err", '1|', '... and the scope holds: of uids 1, 41 and 43, the role changes 1 only');
# the INSERT policy never widens the DBA's own
$coord->safe_psql('postgres', q{
	CREATE POLICY low_only ON consented AS PERMISSIVE FOR INSERT TO PUBLIC WITH CHECK (uid < 6000);
	CREATE POLICY all_read ON consented AS PERMISSIVE FOR SELECT TO PUBLIC USING (true);
});
($a_out, $a_err) = as_analyst($coord, q{INSERT INTO consented VALUES (5002, '{analytics}', now())});
is($a_err, '', 'with a permissive INSERT policy of the DBA\'s own, what it allows goes in');
($a_out, $a_err) = as_analyst($coord, q{INSERT INTO consented VALUES (7000, '{analytics}', now())});
like($a_err, qr/new row violates row-level security policy/, '... and what it does not is refused');
$coord->safe_psql('postgres', q{DROP POLICY low_only ON consented});
($a_out, $a_err) = as_analyst($coord, q{INSERT INTO consented VALUES (5003, '{analytics}', now())});
like($a_err, qr/new row violates row-level security policy/,
	'with a permissive policy of the DBA\'s own for SELECT only, no INSERT goes in (as on one server)');
($a_out, $a_err) = as_analyst($coord, q{UPDATE consented SET v = 0 WHERE uid = 200});
like($a_err, qr/not supported on a table with row security policies of its own/,
	'an UPDATE under the rules of a table with a policy of the DBA\'s own: refused (its conditions may name current_user)');
$coord->safe_psql('postgres', q{DROP POLICY all_read ON consented});
# where the DBA turned row security on, privstat adds no INSERT policy (nor its all-rows one)
$coord->safe_psql('postgres', q{
	CREATE TABLE dba_first (uid int, purposes text[]);
	SELECT create_distributed_table('dba_first', 'uid');
	ALTER TABLE dba_first ENABLE ROW LEVEL SECURITY;
	GRANT SELECT, INSERT ON dba_first TO citus_analyst;
	SELECT privstat.set_consent('dba_first', 'purposes');
});
is($coord->safe_psql('postgres', q{SELECT count(*) FROM pg_policy WHERE polrelid = 'dba_first'::regclass}), '0',
	'set_consent on a distributed table whose row security the DBA turned on adds no policy');
($a_out, $a_err) = as_analyst($coord, q{INSERT INTO dba_first VALUES (1, '{analytics}')});
like($a_err, qr/new row violates row-level security policy/, '... so another role still inserts nothing there');
# retention on a distributed table: the trigger on every shard, expired rows
# hidden from other roles than the owner at once, purged on the coordinator
$coord->safe_psql('postgres', q{
	CREATE TABLE visits_log (uid int, at timestamptz, note text);
	SELECT create_distributed_table('visits_log', 'uid');
	INSERT INTO visits_log SELECT g, now() - (g % 10) * interval '1 day' - interval '12 hours', 'n'
	FROM generate_series(1, 100) g;
	GRANT SELECT ON visits_log TO citus_analyst;
	SELECT privstat.set_retention('visits_log', 'at', '5 days');
});
is(join(',', map { $_->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'privstat_retention_%' AND tgrelid::regclass::text LIKE 'visits_log%'}) } @workers),
	'4,4', 'set_retention on a distributed table puts its trigger on every shard');
($a_out, $a_err) = as_analyst($coord, 'SELECT count(*) FROM visits_log');
is($a_out, '50', '... another role than the owner sees no expired row') or diag($a_err);
is($coord->safe_psql('postgres', 'SELECT count(*) FROM visits_log'), '100', '... the owner sees them until the purge');
$coord->psql('postgres', q{INSERT INTO visits_log VALUES (1000, now() - interval '6 days', 'late')},
	stdout => \$out, stderr => \$err);
like($err, qr/row of table "visits_log" is already past its retention period/,
	'an expired row is refused by the shard\'s trigger, which names the distributed table');
$coord->safe_psql('postgres', q{GRANT UPDATE ON visits_log TO citus_analyst});
($a_out, $a_err) = as_analyst($coord, q{UPDATE visits_log SET note = 'seen' RETURNING uid});
is(scalar(split /\n/, $a_out), 50, 'another role than the owner updates the rows not expired, on every shard')
  or diag($a_err);
is($coord->safe_psql('postgres', q{SELECT count(*) FROM visits_log WHERE note = 'seen' AND at < now() - interval '5 days'}),
	'0', '... and no expired row');
($a_out, $a_err) = as_analyst($coord, q{SET DateStyle = 'SQL, DMY'; UPDATE visits_log SET note = 'dmy' WHERE uid > 0 RETURNING uid});
is(scalar(split /\n/, $a_out) . $a_err, '50', '... also with DateStyle SQL, DMY (the cutoff is sent in ISO, whatever the session\'s style)');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM visits_log WHERE note = 'dmy' AND at < now() - interval '5 days'}),
	'0', '... and no expired row');
$coord->safe_psql('postgres', q{
	CREATE TABLE local_time_log (uid int, at timestamp, note text);
	SELECT create_distributed_table('local_time_log', 'uid');
	GRANT SELECT, UPDATE ON local_time_log TO citus_analyst;
	SET client_min_messages = warning;
	SELECT privstat.set_retention('local_time_log', 'at', '5 days');
});
($a_out, $a_err) = as_analyst($coord, q{UPDATE local_time_log SET note = 'seen' WHERE uid > 0});
like($a_err, qr/a rule of Citus table "local_time_log" calls a function that is not immutable on its columns/,
	'a retention rule on a timestamp without time zone column (compared through the time zone): its UPDATE refused, saying why');
$coord->safe_psql('postgres', q{INSERT INTO visits_log VALUES (1001, now(), 'fresh')});
is($coord->safe_psql('postgres', q{CALL privstat.purge_expired('visits_log')}), '50',
	'purge_expired deletes the expired rows of every shard');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM visits_log'), '51', '... and only them');
is($coord->safe_psql('postgres', q{SELECT action || ' ' || rows FROM privstat.purge_log WHERE tbl = 'visits_log'::regclass}),
	'delete 50', '... and records the purge');
$coord->safe_psql('postgres', q{
	CREATE TABLE notes_log (uid int, at timestamptz, note text, page int);
	SELECT create_distributed_table('notes_log', 'uid');
	INSERT INTO notes_log SELECT g, now() - (g % 10) * interval '1 day' - interval '12 hours', 'secret', g
	FROM generate_series(1, 100) g;
	SELECT privstat.set_retention('notes_log', 'at', '5 days', 'anonymize', '{note}');
});
is($coord->safe_psql('postgres', q{CALL privstat.purge_expired('notes_log')}), '50',
	'an anonymizing retention rule on a distributed table clears the expired rows of every shard');
is($coord->safe_psql('postgres', q{SELECT count(*) || ' ' || count(note) || ' ' || sum(page) FROM notes_log}), '100 50 5050',
	'... their listed columns only, and keeps the rows');
$coord->psql('postgres', q{SELECT privstat.set_retention('notes_log', 'at', '5 days', 'anonymize', '{uid}')},
	stdout => \$out, stderr => \$err);
like($err, qr/an anonymizing retention rule cannot clear the distribution column of Citus table "notes_log"/,
	'an anonymizing rule may not clear the distribution column (Citus would refuse every purge)');
$coord->safe_psql('postgres', q{CREATE ROLE citus_admin IN ROLE privstat_admin});
is($coord->safe_psql('postgres', q{SET ROLE citus_admin; CALL privstat.purge_expired('notes_log')}), '0',
	'an administrator who does not own the table purges it (as the owner: the shards show it no row)');
$coord->psql('postgres', q{SELECT privstat._purge_batch('notes_log', NULL, now(), 'delete', NULL, 1, NULL)},
	stdout => \$out, stderr => \$err);
like($err, qr/must not be null/, 'a purge batch of a Citus table without its column is refused, not a crash');
$coord->safe_psql('postgres', q{SELECT privstat.drop_retention('visits_log')});
is(join(',', map { $_->safe_psql('postgres', q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'privstat_retention_%' AND tgrelid::regclass::text LIKE 'visits_log%'}) } @workers),
	'0,0', 'drop_retention takes the trigger off every shard');
$coord->safe_psql('postgres', q{INSERT INTO visits_log VALUES (1002, now() - interval '6 days', 'kept')});
is($coord->safe_psql('postgres', 'SELECT count(*) FROM visits_log'), '52', '... and old rows may be written again');
# a table whose row security is only the DBA's own is left to Citus, which
# copies the policies to the shards
$coord->safe_psql('postgres', q{
	CREATE TABLE dba_only (uid int, v int);
	SELECT create_distributed_table('dba_only', 'uid');
	INSERT INTO dba_only SELECT g, g FROM generate_series(1, 100) g;
	ALTER TABLE dba_only ENABLE ROW LEVEL SECURITY;
	CREATE POLICY low ON dba_only USING (v < 50);
	GRANT SELECT ON dba_only TO citus_analyst;
	CREATE TABLE dba_copy (uid int, v int);
	SELECT create_distributed_table('dba_copy', 'uid');
	GRANT INSERT ON dba_copy TO citus_analyst;
});
($a_out, $a_err) = as_analyst($coord, 'SELECT count(*) FROM dba_only');
is($a_out, '49', 'a distributed table under the DBA\'s own policy only: Citus applies it on the shards') or diag($a_err);
($a_out, $a_err) = as_analyst($coord, 'EXPLAIN (COSTS OFF) SELECT count(*) FROM dba_only');
unlike($a_out, qr/_citus_reader_rows/, '... without reading it on the coordinator');
($a_out, $a_err) = as_analyst($coord, 'INSERT INTO dba_copy SELECT * FROM dba_only');
is($a_err, '', '... so a statement may copy its rows into another distributed table');
# the rights a read stands for are the planning role's, as the executor checks them at its start
$coord->safe_psql('postgres', q{CREATE ROLE citus_nosel});
$coord->psql('postgres', q{SET ROLE citus_nosel; BEGIN; DECLARE c CURSOR FOR SELECT count(*) FROM consented;
		RESET ROLE; SET ROLE citus_analyst; FETCH c; COMMIT}, stdout => \$out, stderr => \$err);
like($err, qr/permission denied for table consented/,
	'a cursor declared by a role without SELECT fetches nothing after SET ROLE to one with it');
# FORCE ROW LEVEL SECURITY would apply the rules to the owner, whom the coordinator reads as
$coord->safe_psql('postgres', 'ALTER TABLE consented FORCE ROW LEVEL SECURITY');
($a_out, $a_err) = as_analyst($coord, 'SELECT count(*) FROM consented');
like($a_err, qr/Citus table "consented" forces row level security on its owner/, 'FORCE ROW LEVEL SECURITY is refused, saying why');
($a_out, $a_err) = as_analyst($coord, 'UPDATE consented SET v = 0 WHERE uid = 200');
like($a_err, qr/Citus table "consented" forces row level security on its owner, which privstat changes its rows as/,
	'... for an UPDATE too');
$coord->safe_psql('postgres', 'ALTER TABLE consented NO FORCE ROW LEVEL SECURITY');
# a rule set before the table was distributed applies the same way
$coord->safe_psql('postgres', q{
	CREATE TABLE consented_first (uid int, purposes text[]);
	INSERT INTO consented_first SELECT g, CASE WHEN g <= 30 THEN '{analytics}'::text[] ELSE '{}' END FROM generate_series(1, 100) g;
	GRANT SELECT ON consented_first TO citus_analyst;
	SELECT privstat.set_consent('consented_first', 'purposes');
	SELECT create_distributed_table('consented_first', 'uid');
});
($a_out, $a_err) = as_analyst($coord, 'SELECT count(*) FROM consented_first');
is($a_out, '30', 'a table distributed after its consent rule was set: the rule applies') or diag($a_err);
# a restricted role under consent: its DP answers count only the rows consented to
$coord->safe_psql('postgres', q{
	SELECT privstat.protect('consented', 'uid');
	SELECT privstat.grant_purpose('citus_restricted', 'analytics');
	SELECT privstat.drop_scope('consented', 'citus_analyst');
});
($r_out, $r_err) = restricted(q{SET privstat.purpose = 'analytics'; SELECT count(*) FROM consented});
ok($r_err eq '' && abs($r_out - 500) <= 25, "a restricted role's count under consent: $r_out for the 500 rows consented to")
  or diag($r_err);

# the workers never charge, release or change a budget
$workers[0]->psql('postgres', 'SELECT privstat.dp_count(*) FROM generate_series(1, 10)',
	stdout => \$out, stderr => \$err);
like($err, qr/DP queries are refused on a Citus worker/, 'a DP query on a worker is refused');
like($err, qr/HINT:  Run it on the coordinator/, '... with a hint');
$workers[0]->psql('postgres', q{SELECT privstat.set_budget(current_user::regrole, 5)},
	stdout => \$out, stderr => \$err);
like($err, qr/privacy budget charges and changes are refused on a Citus worker/,
	'set_budget on a worker is refused');
$workers[0]->psql('postgres', q{SELECT privstat.record_spend(current_user::regrole, 5, 0)},
	stdout => \$out, stderr => \$err);
like($err, qr/refused on a Citus worker/, 'record_spend on a worker is refused');

$_->stop for @nodes;
done_testing();
