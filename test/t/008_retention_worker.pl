# The retention background workers purge on their own within a few
# intervals, keep working after a restart and after a purge error (a lock
# held by the application makes a batch time out), show up in
# pg_stat_activity, and stop with the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('retention');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privstat'
privstat.purge_interval = 1
privstat.purge_lock_timeout = '200ms'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION privstat;
	CREATE TABLE events (at timestamptz, email text);
	CREATE INDEX ON events (at);
	SELECT privstat.set_retention('events', 'at', '30 days');
});

# expired rows loaded behind the trigger's back, as by a restore
sub load_old
{
	my ($n) = @_;
	$node->safe_psql('postgres', qq{
		ALTER TABLE events DISABLE TRIGGER privstat_retention;
		INSERT INTO events SELECT now() - interval '40 days', 'old' FROM generate_series(1, $n);
		ALTER TABLE events ENABLE TRIGGER privstat_retention;
		INSERT INTO events SELECT now(), 'fresh' FROM generate_series(1, 3);
	});
}

sub wait_purged
{
	return $node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM events WHERE at < now() - interval '30 days'});
}

load_old(25_000);
ok(wait_purged(), 'the workers purge expired rows on their own');
is($node->safe_psql('postgres', q{SELECT count(*) FROM events WHERE email = 'fresh'}), '3', 'fresh rows stay');
ok($node->safe_psql('postgres', q{SELECT count(DISTINCT run) FROM privstat.purge_log}) >= 1,
	'each purge is recorded with its row count');
is($node->safe_psql('postgres', q{SELECT sum(rows) FROM privstat.purge_log}), '25000', 'all 25000 rows were logged');
ok($node->safe_psql('postgres', q{SELECT max(rows) FROM privstat.purge_log}) <= 10000,
	'in batches of at most privstat.purge_batch_size rows');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'privstat retention launcher'}),
	'1', 'the launcher shows in pg_stat_activity under its name');

# after a restart
$node->restart;
load_old(100);
ok(wait_purged(), 'the workers purge again after a restart');

# after an error: the application holds a lock, the batch times out, the
# error is logged, and the next interval succeeds once the lock is gone
my $offset = -s $node->logfile;
load_old(50);
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE;');
ok($node->wait_for_log(qr/canceling statement due to lock timeout/, $offset),
	'a purge that meets a held lock times out and logs it');
is($node->safe_psql('postgres', q{SELECT 1}), '1', 'the server is fine');
$bg->query_safe('ROLLBACK');
$bg->quit;
ok(wait_purged(), 'the next interval purges once the lock is released');

# privstat.purge_interval = 0 disables the purges
$node->safe_psql('postgres', q{ALTER SYSTEM SET privstat.purge_interval = 0; SELECT pg_reload_conf();});
sleep 3;    # let a purge that had started end
load_old(10);
sleep 3;
is($node->safe_psql('postgres', q{SELECT count(*) FROM events WHERE at < now() - interval '30 days'}),
	'10', 'with privstat.purge_interval = 0 nothing is purged');

# the workers purge as the table's owner: an owner's trigger cannot borrow
# superuser rights from them
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET privstat.purge_interval; SELECT pg_reload_conf();
	CREATE ROLE carol;
	CREATE TABLE carol_events (at timestamptz) ;
	ALTER TABLE carol_events OWNER TO carol;
	CREATE FUNCTION carol_escalate() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN ALTER ROLE carol SUPERUSER; RETURN NULL; END $$;
	ALTER FUNCTION carol_escalate() OWNER TO carol;
	CREATE TRIGGER escalate AFTER DELETE ON carol_events FOR EACH STATEMENT EXECUTE FUNCTION carol_escalate();
	INSERT INTO carol_events SELECT now() - interval '40 days' FROM generate_series(1, 10);
	SELECT privstat.set_retention('carol_events', 'at', '30 days');
	ALTER SYSTEM SET privstat.purge_interval = 1; SELECT pg_reload_conf();
});
$offset = -s $node->logfile;
ok($node->wait_for_log(qr/must be superuser to alter superuser roles/, $offset),
	'an owner\'s trigger fired by a purge runs with the owner\'s rights and fails');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'carol'}), 'f',
	'the owner did not become a superuser');
load_old(20);
ok(wait_purged(), 'a table that fails to purge does not stop the others');

# several tables with rows to purge in one run: the worker's list of tables
# must outlive the transaction that read it (it was read from freed memory
# once a purge had run, and the worker crashed)
$node->safe_psql('postgres', join('', map { qq{
	CREATE TABLE multi$_ (at timestamptz, pad text);
	INSERT INTO multi$_ SELECT now() - interval '40 days', repeat('x', 200) FROM generate_series(1, 5000);
	SELECT privstat.set_retention('multi$_', 'at', '30 days');
} } 1 .. 5));
ok($node->poll_query_until('postgres',
	'SELECT ' . join(' + ', map { "(SELECT count(*) FROM multi$_)" } 1 .. 5) . ' = 0', 't'),
	'the workers purge five tables in a run');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'and no worker crashed');

# the workers stop with the server
my $t0 = time;
$node->stop('fast');
ok(time - $t0 < 30, 'the server stops promptly with the workers running');

done_testing();
