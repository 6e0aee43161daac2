# Attack suite, the attacks that need a cluster of their own: objects planted
# before CREATE EXTENSION (a malicious public.= operator, public.now(), and
# pg_temp objects in the installing session) hijack nothing; two-phase commit,
# a cancel and a termination from another session refund nothing; no byte of
# the master key is visible in pg_settings (even to pg_monitor) or in the
# server log.  Each attack has a one-line comment; doc/security.md lists them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use POSIX ();

my $node = PostgreSQL::Test::Cluster->new('attacks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'privstat'
# every repeated query is a new charge here (the release cache: 013_release_cache.pl)
privstat.release_cache_ttl = 0
max_prepared_transactions = 5
log_statement = 'all'
log_min_messages = debug1
log_min_error_statement = debug1
});
$node->start;

sub sql { my ($q, $user) = @_; return $node->safe_psql('postgres', $q, $user ? (extra_params => [ '-U', $user ]) : ()); }

# the attacker: a role that may create objects in public, before the extension exists
sql(q{
	CREATE ROLE mallory LOGIN;
	GRANT CREATE ON SCHEMA public TO mallory;
	CREATE TABLE public.hijack_log (who text, what text);
	GRANT INSERT, SELECT ON public.hijack_log TO PUBLIC;
});
# hijack: malicious public operators and functions planted before CREATE EXTENSION
sql(q{
	CREATE FUNCTION public.h_oid(oid, oid) RETURNS boolean LANGUAGE plpgsql AS
		'BEGIN INSERT INTO public.hijack_log VALUES (current_user, ''oid=''); RETURN $1 OPERATOR(pg_catalog.=) $2; END';
	CREATE OPERATOR public.= (FUNCTION = public.h_oid, LEFTARG = oid, RIGHTARG = oid);
	CREATE FUNCTION public.h_text(text, text) RETURNS boolean LANGUAGE plpgsql AS
		'BEGIN INSERT INTO public.hijack_log VALUES (current_user, ''text=''); RETURN $1 OPERATOR(pg_catalog.=) $2; END';
	CREATE OPERATOR public.= (FUNCTION = public.h_text, LEFTARG = text, RIGHTARG = text);
	CREATE FUNCTION public.h_name(name, name) RETURNS boolean LANGUAGE plpgsql AS
		'BEGIN INSERT INTO public.hijack_log VALUES (current_user, ''name=''); RETURN $1 OPERATOR(pg_catalog.=) $2; END';
	CREATE OPERATOR public.= (FUNCTION = public.h_name, LEFTARG = name, RIGHTARG = name);
	CREATE FUNCTION public.h_int(int, bigint) RETURNS boolean LANGUAGE plpgsql AS
		'BEGIN INSERT INTO public.hijack_log VALUES (current_user, ''int=''); RETURN true; END';
	CREATE OPERATOR public.= (FUNCTION = public.h_int, LEFTARG = int, RIGHTARG = bigint);
	CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
		'BEGIN INSERT INTO public.hijack_log VALUES (current_user, ''now''); RETURN pg_catalog.now(); END';
	CREATE FUNCTION public.has_privs_of_role(oid) RETURNS boolean LANGUAGE plpgsql AS
		'BEGIN INSERT INTO public.hijack_log VALUES (current_user, ''has_privs''); RETURN true; END';
}, 'mallory');

# hijack: pg_temp objects in the installing superuser's session, then CREATE EXTENSION there
sql(q{
	SET search_path = public, pg_catalog;
	CREATE TEMP TABLE protected_table (x int);
	CREATE TEMP TABLE access_level (x int);
	CREATE FUNCTION pg_temp.now() RETURNS timestamptz LANGUAGE plpgsql AS
		'BEGIN INSERT INTO public.hijack_log VALUES (current_user, ''pg_temp.now''); RETURN pg_catalog.now(); END';
	CREATE EXTENSION privstat;
	CREATE TABLE orders (id int, user_id int, amount numeric, created timestamptz DEFAULT pg_catalog.now());
	INSERT INTO orders (id, user_id, amount) SELECT g, g % 100, g % 50 FROM generate_series(1, 10000) g;
	CREATE ROLE analyst LOGIN;
	CREATE ROLE dba LOGIN;
	GRANT privstat_admin TO dba;
	ALTER TABLE orders OWNER TO dba;
});
is(sql('SELECT count(*) FROM public.hijack_log'), '0', 'CREATE EXTENSION called none of the planted objects');

# hijack: the administrator and the victim analyst use privstat with public first on search_path
sql(q{
	SET search_path = public, pg_catalog;
	SELECT privstat.protect('orders', 'user_id');
	SELECT privstat.set_bounds('orders', 'amount', 0, 100);
	SELECT privstat.set_access('analyst', 'aggregate');
	SELECT privstat.set_budget('analyst', 'infinity', 1);
	SELECT privstat.set_consent('orders', 'user_id') WHERE false;
	SELECT count(*) FROM privstat.policies;
	SELECT count(*) FROM privstat.budget_status;
	SELECT privstat.set_budget('mallory', 1);
}, 'dba');
sql(q{
	SET search_path = public, pg_catalog;
	SELECT count(*), sum(amount), avg(amount) FROM orders WHERE created > pg_catalog.now() - interval '1 day';
	SELECT privstat.dp_count(id, 0.5) FROM orders GROUP BY user_id = 7;
	SELECT * FROM privstat.budget_status;
	EXPLAIN SELECT count(*) FROM orders;
}, 'analyst');
sql(q{SET search_path = public, pg_catalog; SELECT * FROM privstat.verify_audit_log(); SELECT count(*) FROM privstat.audit_log;});
is(sql('SELECT count(*) FROM public.hijack_log'), '0',
	'no planted operator or function ran in privstat\'s functions, views or DP queries');

my $status = q{SELECT epsilon_spent || '/' || charges FROM privstat.budget_status WHERE role::text = 'analyst'};
sql(q{SELECT privstat.reset_budget('analyst')});

# refund: PREPARE TRANSACTION after a DP query, then ROLLBACK PREPARED
sql(q{BEGIN; SELECT privstat.dp_count(id, 0.25) FROM orders; PREPARE TRANSACTION 'dp1';}, 'analyst');
sql(q{ROLLBACK PREPARED 'dp1'});
is(sql($status), '0.25/1', 'ROLLBACK PREPARED refunds nothing');
# refund: PREPARE TRANSACTION, a restart, then ROLLBACK PREPARED
sql(q{BEGIN; SELECT privstat.dp_count(id, 0.25) FROM orders; PREPARE TRANSACTION 'dp2';}, 'analyst');
$node->restart;
sql(q{ROLLBACK PREPARED 'dp2'});
is(sql($status), '0.5/2', 'a restart between PREPARE and ROLLBACK PREPARED refunds nothing');

# refund: a cancel sent from another session while the DP query runs
sub while_sleeping
{
	my ($action) = @_;
	my $pid = fork();
	if ($pid == 0)
	{
		# exec, so the child runs no destructor of the test's cluster object
		open(STDOUT, '>', '/dev/null');
		open(STDERR, '>', '/dev/null');
		exec('psql', '-X', '-h', $node->host, '-p', $node->port, '-U', 'analyst', '-d', 'postgres',
			'-c', q{SELECT c, pg_sleep(60) FROM (SELECT privstat.dp_count(id, 0.25) AS c FROM orders) s})
		  or POSIX::_exit(1);
	}
	my $backend = '';
	for (1 .. 600)
	{
		$backend = sql(q{SELECT pid FROM pg_stat_activity WHERE usename = 'analyst' AND wait_event = 'PgSleep'});
		last if $backend ne '';
		usleep(100_000);
	}
	sql("SELECT $action($backend)");
	waitpid($pid, 0);
}
while_sleeping('pg_cancel_backend');
is(sql($status), '0.75/3', 'pg_cancel_backend from another session refunds nothing');
# refund: terminating the backend from another session
while_sleeping('pg_terminate_backend');
is(sql($status), '1/4', 'pg_terminate_backend from another session refunds nothing');

# key leak: no byte of the master key in pg_settings, even for pg_monitor and pg_read_all_settings
my $key = slurp_file($node->data_dir . '/privstat.key');
$key =~ s/\s+//g;
ok(length($key) >= 32, 'the master key file holds a key');
sql(q{CREATE ROLE monitor LOGIN; GRANT pg_monitor TO monitor;});
my $settings = $node->safe_psql('postgres',
	q{SELECT string_agg(concat_ws(' ', name, setting, reset_val, boot_val, sourcefile), E'\n') FROM pg_settings},
	extra_params => [ '-U', 'monitor' ]);
my $privstat_settings = $node->safe_psql('postgres',
	q{SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name LIKE 'privstat.%'},
	extra_params => [ '-U', 'monitor' ]);
ok($privstat_settings =~ /privstat\.key_file/, 'pg_monitor sees privstat settings (the key file\'s path at most)');
sub leaks { my ($text) = @_; for (my $i = 0; $i + 8 <= length($key); $i += 4) { return 1 if index(lc($text), lc(substr($key, $i, 8))) >= 0; } return 0; }
ok(!leaks($settings), 'no 8 hex digits of the key in pg_settings as pg_monitor');
ok(!leaks(sql(q{SELECT string_agg(concat_ws(' ', setting, reset_val, boot_val), ' ') FROM pg_settings})),
	'nor as a superuser');
# key leak: trying to read the key file from SQL as pg_monitor (pg_read_server_files is not part of it)
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT pg_read_file('privstat.key')}, extra_params => [ '-U', 'monitor' ]);
ok($rc != 0 && $err =~ /permission denied/, 'pg_monitor cannot read the key file');
# key leak: nothing of the key in the server log, at debug1 with every statement logged
my $log = slurp_file($node->logfile);
ok(!leaks($log), 'no 8 hex digits of the key in the server log');

$node->stop;
done_testing();
