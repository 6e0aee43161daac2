# The release cache across connections, restarts and crashes.  An answer kept
# by one connection is returned to another connection of the same role for
# free (pooled connections do not share session state); a restart or a crash
# empties the cache together with the write counters that guard it, so the
# first run after either is charged and is a new draw, never a stale entry.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PrivstatTAP;

become_subreaper();

my $node = PostgreSQL::Test::Cluster->new('release_cache');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'\nrestart_after_crash = on\n"
	  . "privstat.release_cache_ttl = 3600\nprivstat.audit_keep_segments = 7");
$node->start;
# settings of every module are read from postgresql.conf at start (privstat
# reserves its prefix only after the last module defined its settings)
is($node->safe_psql('postgres', 'SHOW privstat.release_cache_ttl'), '1h', 'release_cache_ttl read at start');
is($node->safe_psql('postgres', 'SHOW privstat.audit_keep_segments'), '7', 'audit_keep_segments read at start');
$node->safe_psql('postgres', q{
	CREATE EXTENSION privstat;
	CREATE TABLE t AS SELECT g AS i, g % 50 AS v FROM generate_series(1, 1000) g;
	SELECT privstat.set_budget(current_user::regrole, 1000);
});

# the query: an average with continuous noise (two draws are never equal)
my $q = q{SELECT privstat.dp_avg(v, 0, 100) FROM t};
sub charges
{
	return $node->safe_psql('postgres',
		q{SELECT charges FROM privstat.budget_status WHERE role = current_user::regrole});
}

my $first = $node->safe_psql('postgres', $q);
is(charges(), 1, 'first run charged');
my $again = $node->safe_psql('postgres', $q);
is($again, $first, 'another connection gets the same answer');
is(charges(), 1, '... without a charge');

# a restart empties the cache
$node->restart;
my $after_restart = $node->safe_psql('postgres', $q);
isnt($after_restart, $first, 'after a restart: a new answer');
is(charges(), 2, '... and a charge');
is($node->safe_psql('postgres', $q), $after_restart, 'kept again after the restart');
is(charges(), 2, '... and returned for free');

# a change, then a crash of a backend (the postmaster reinitializes shared
# memory): the first run after it is charged and new
$node->safe_psql('postgres', 'INSERT INTO t VALUES (1001, 1)');
my $session = $node->background_psql('postgres');
my $victim = $session->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $victim;
eval { $session->quit; };
$node->poll_query_until('postgres', 'SELECT 1', '1') or die 'the server did not come back';
my $after_crash = $node->safe_psql('postgres', $q);
isnt($after_crash, $after_restart, 'after a change and a crash: a new answer');
is(charges(), 3, '... and a charge');

# an immediate stop (a crash of the whole server), then a start
is($node->safe_psql('postgres', $q), $after_crash, 'kept again after the crash');
$node->stop('immediate');
$node->start;
isnt($node->safe_psql('postgres', $q), $after_crash, 'after an immediate stop: a new answer');
is(charges(), 4, '... and a charge');

$node->stop;
done_testing();
