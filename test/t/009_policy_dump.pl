# The policy configuration (protected tables, bounds, access levels and
# privstat_reader's grants) survives pg_dump and pg_restore and is enforced
# in the restored database; and a database created at version 0.1.0 is
# upgraded to the current version by ALTER EXTENSION ... UPDATE.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('policy_dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'\n");
$node->start;
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', q{
	CREATE ROLE analyst LOGIN;
	CREATE ROLE nobody LOGIN;
	CREATE DATABASE src;
	CREATE DATABASE restored;
});
$node->safe_psql('src', q{
	CREATE EXTENSION privstat;
	CREATE TABLE orders (user_id int, amount numeric, region text);
	INSERT INTO orders SELECT g, g % 50, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END
		FROM generate_series(1, 10000) g;
	CREATE TABLE products (id int, name text);
	GRANT SELECT ON products TO analyst;
	SELECT privstat.protect('orders', 'user_id');
	SELECT privstat.set_bounds('orders', 'amount', 0, 100);
	SELECT privstat.set_access('analyst', 'aggregate');
	SELECT privstat.set_access('nobody', 'none');
	SELECT privstat.set_budget('analyst', 'infinity');
	CREATE TABLE people (id int, region text, consent text[]);
	INSERT INTO people SELECT g, CASE WHEN g % 2 = 0 THEN 'EU' ELSE 'US' END,
		CASE WHEN g <= 3 THEN ARRAY['marketing'] END FROM generate_series(1, 10) g;
	GRANT SELECT ON people TO nobody;
	SELECT privstat.set_scope('people', 'nobody', 'region = ''EU''');
	SELECT privstat.set_consent('people', 'consent');
	SELECT privstat.grant_purpose('nobody', 'marketing');
});

my $policies = q{SELECT kind, name, privacy_unit, bounds, access_level, role, detail
	FROM privstat.policies ORDER BY 1, 2};
my $before = $node->safe_psql('src', $policies);
is($before, join("\n",
	"consent|people|||||consent column consent",
	"purpose|nobody||||nobody|marketing",
	"role|analyst|||aggregate||",
	"role|nobody|||none||",
	"scope|people||||nobody|region = 'EU'",
	"table|orders|user_id|{\"amount\": [0, 100]}|||"),
	'policies before the dump');

command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', "$tmp/src.dump" ], 'pg_dump -Fc');
command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), "$tmp/src.dump" ],
	'pg_restore');
is($node->safe_psql('restored', $policies), $before, 'the same policies after pg_restore');
is($node->safe_psql('restored', q{SELECT has_table_privilege('privstat_reader', 'orders', 'SELECT'),
	has_table_privilege('analyst', 'orders', 'SELECT')}), 't|f',
	'privstat_reader may read the restored table, the analyst may not');

# enforced in the restored database, in a new session of the analyst
my ($ret, $out, $err) = $node->psql('restored',
	'SELECT count(*) BETWEEN 9900 AND 10100, avg(amount) BETWEEN 20 AND 30 FROM orders',
	extra_params => [ '-U', 'analyst' ]);
is($out, 't|t', 'the analyst gets DP answers from the restored table');
($ret, $out, $err) = $node->psql('restored', 'SELECT * FROM orders', extra_params => [ '-U', 'analyst' ]);
like($err, qr/returning protected rows is not allowed over protected table orders/,
	'raw rows are refused in the restored database');
($ret, $out, $err) = $node->psql('restored', 'SELECT count(*) FROM orders', extra_params => [ '-U', 'nobody' ]);
like($err, qr/role nobody has access level none/, 'level none holds after the restore');
($ret, $out, $err) = $node->psql('restored', q{SET privstat.purpose = 'marketing'; SELECT array_agg(id ORDER BY id) FROM people},
	extra_params => [ '-U', 'nobody' ]);
is($out, '{2}', 'scope and consent are enforced in the restored database');

# a plain-format dump too
command_ok([ 'pg_dump', '-Fp', '-d', $node->connstr('src'), '-f', "$tmp/src.sql" ], 'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE plain');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('plain'), '-f', "$tmp/src.sql" ],
	'plain dump restored with psql');
is($node->safe_psql('plain', $policies), $before, 'the same policies after a plain restore');

# upgrade: created at 0.1.0, updated in place, then protected
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', q{CREATE EXTENSION privstat VERSION '0.1.0'});
is($node->safe_psql('old', q{SELECT to_regclass('privstat.protected_table') IS NULL}), 't',
	'version 0.1.0 has no policy tables');
$node->safe_psql('old', q{
	CREATE TABLE orders (user_id int, amount numeric);
	INSERT INTO orders SELECT g, g % 50 FROM generate_series(1, 1000) g;
	GRANT SELECT ON orders TO analyst;
});
($ret, $out, $err) = $node->psql('old', 'SELECT count(*) FROM orders', extra_params => [ '-U', 'analyst' ]);
is($out, '1000', 'before the update, nothing is enforced in that database');
$node->safe_psql('old', q{ALTER EXTENSION privstat UPDATE TO '0.2.0'});
$node->safe_psql('old', q{
	REVOKE SELECT ON orders FROM analyst;
	SELECT privstat.protect('orders', 'user_id');
	SELECT privstat.set_access('analyst', 'aggregate');
	SELECT privstat.set_budget('analyst', 'infinity');
});
($ret, $out, $err) = $node->psql('old', 'SELECT count(*) BETWEEN 900 AND 1100 FROM orders',
	extra_params => [ '-U', 'analyst' ]);
is($out, 't', 'at 0.2.0, the analyst gets DP answers');
($ret, $out, $err) = $node->psql('old', 'SELECT count(*) FROM orders WHERE (user_id - 7) / (user_id - 7) = 1',
	extra_params => [ '-U', 'analyst' ]);
like($err, qr/total version of it is not installed in this database.*ALTER EXTENSION privstat UPDATE/s,
	'at 0.2.0, a function 0.3.0 replaces is refused, saying how to install its total version');
$node->safe_psql('old', q{ALTER EXTENSION privstat UPDATE});
is($node->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'privstat'}), '0.3.0',
	'updated to 0.3.0');
($ret, $out, $err) = $node->psql('old', 'SELECT count(*) BETWEEN 900 AND 1100 FROM orders WHERE (user_id - 7) / (user_id - 7) = 1',
	extra_params => [ '-U', 'analyst' ]);
is($out, 't', 'after the update, the analyst gets DP answers, the division total');
is($node->safe_psql('old', q{SET search_path = public; SELECT privstat.pseudonymize(1) = privstat.pseudonymize(1)}), 't',
	'after the update, pseudonyms compare without privstat on the search_path');
($ret, $out, $err) = $node->psql('old', 'SELECT max(user_id) FROM orders', extra_params => [ '-U', 'analyst' ]);
like($err, qr/aggregate max\(integer\) is not differentially private/, 'and non-DP aggregates are refused');

$node->stop;
done_testing();
