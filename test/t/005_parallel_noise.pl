# Parallel and serial plans of a DP aggregate release noise from the same
# distribution.  300 top-level releases of dp_count(*) (epsilon 1) under each
# plan; discrete Laplace with epsilon 1 has mean 0, variance 2e/(e-1)^2 and
# P(Z = 0) = (e-1)/(e+1).  Each check is at 8 standard errors or wider, so
# the false-failure rate of this file is below 1e-9.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('parallel');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'\n"
	  . "privstat.release_cache_ttl = 0    # every repeated query is a new charge here");
$node->append_conf('postgresql.conf', "max_worker_processes = 8\nmax_parallel_workers = 8");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION privstat;
	SELECT privstat.set_budget(current_user::regrole, 'infinity');
	CREATE TABLE facts AS SELECT g AS i FROM generate_series(1, 20000) g;
	ANALYZE facts;
});

my $n = 300;
my $truth = 20000;
my $var = 2 * exp(1) / (exp(1) - 1)**2;
my $p0 = (exp(1) - 1) / (exp(1) + 1);

sub releases
{
	my ($workers) = @_;
	my $settings = "SET max_parallel_workers_per_gather = $workers; SET parallel_setup_cost = 0;"
	  . " SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;";
	my $plan = $node->safe_psql('postgres',
		"$settings EXPLAIN (COSTS OFF) SELECT privstat.dp_count(*) FROM facts");
	my $script = $settings . ("SELECT privstat.dp_count(*) - $truth FROM facts;\n" x $n);
	my @z = split /\n/, $node->safe_psql('postgres', $script);
	return ($plan, @z);
}

my ($pplan, @par) = releases(2);
my ($splan, @ser) = releases(0);
like($pplan, qr/Finalize Aggregate.*Gather.*Partial Aggregate/s, 'the parallel plan has a Partial Aggregate');
unlike($splan, qr/Gather/, 'the serial plan has no Gather');
is(scalar @par, $n, "$n parallel releases");
is(scalar @ser, $n, "$n serial releases");

for my $case ([ 'parallel', \@par ], [ 'serial', \@ser ])
{
	my ($name, $z) = @$case;
	my $mean = 0;
	$mean += $_ / $n for @$z;
	my $v = 0;
	$v += ($_ - $mean)**2 / $n for @$z;
	my $zeros = grep { $_ == 0 } @$z;
	ok(abs($mean) <= 8 * sqrt($var / $n), "$name: mean noise $mean is near 0");
	ok($v >= $var / 2 && $v <= $var * 2, "$name: noise variance $v is near $var");
	ok(abs($zeros / $n - $p0) <= 8 * sqrt($p0 * (1 - $p0) / $n),
		"$name: P(noise = 0) " . ($zeros / $n) . " is near $p0");
}

# the two samples agree with each other: two-sample z-test on the means and
# on the share of zeros
my ($mp, $ms) = (0, 0);
$mp += $_ / $n for @par;
$ms += $_ / $n for @ser;
ok(abs($mp - $ms) <= 8 * sqrt(2 * $var / $n), 'parallel and serial means agree');
my $zp = grep { $_ == 0 } @par;
my $zs = grep { $_ == 0 } @ser;
ok(abs($zp - $zs) / $n <= 8 * sqrt(2 * $p0 * (1 - $p0) / $n), 'parallel and serial shares of zero agree');

done_testing();
