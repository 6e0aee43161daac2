# pg_dump and pg_restore (custom and plain formats) round-trip pseudonym and
# sealed columns exactly, with indexes, and the key versions of rotated
# domains travel with the dump.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'");
# privstat's operators live in its schema: put it on the path, as doc/install.md says
$node->append_conf('postgresql.conf', q{search_path = '"$user", public, privstat'});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION privstat;
	CREATE TABLE people (id int PRIMARY KEY, uid privstat.pseudonym, email privstat.sealed);
	INSERT INTO people SELECT g, privstat.pseudonymize(g, 'customer'),
	       privstat.seal('p' || g || '@example.com', 'customer') FROM generate_series(1, 500) g;
	SELECT privstat.rotate_key('customer');
	INSERT INTO people SELECT g, privstat.pseudonymize(g, 'customer'),
	       privstat.seal('p' || g || '@example.com', 'customer') FROM generate_series(501, 600) g;
	INSERT INTO people VALUES (601, NULL, NULL);
	CREATE INDEX ON people (uid);
	CREATE INDEX ON people USING hash (email);
});
my $digest = q{SELECT md5(string_agg(id || ':' || coalesce(uid::text, '-') || ':' || coalesce(email::text, '-'), ',' ORDER BY id)) FROM people};
my $before = $node->safe_psql('src', $digest);

my $tmp = PostgreSQL::Test::Utils::tempdir;
command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', "$tmp/src.dump" ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
command_ok([ 'pg_restore', '-d', $node->connstr('restored'), "$tmp/src.dump" ], 'pg_restore');

is($node->safe_psql('restored', $digest), $before, 'custom-format dump restores every value exactly');
is($node->safe_psql('restored', q{SELECT privstat.current_key_version('customer')}), '2',
	'the key version of a rotated domain travels with the dump');
is($node->safe_psql('restored', q{SELECT privstat.unseal(email) FROM people WHERE id = 7}),
	'p7@example.com', 'restored sealed values unseal');
is($node->safe_psql('restored',
		q{SELECT count(*) FROM people WHERE uid = ANY (privstat.pseudonymize_all_versions('7', 'customer'))}),
	'1', 'lookups across key versions work after a restore');
is($node->safe_psql('restored', q{SET enable_seqscan = off; SELECT id FROM people WHERE uid = privstat.pseudonymize(550, 'customer')}),
	'550', 'the restored btree index finds a pseudonym');

command_ok([ 'pg_dump', '-Fp', '-d', $node->connstr('src'), '-f', "$tmp/src.sql" ], 'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE plain');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('plain'), '-f', "$tmp/src.sql" ],
	'plain dump restores through psql');
is($node->safe_psql('plain', $digest), $before, 'plain-format dump restores every value exactly');

done_testing();
