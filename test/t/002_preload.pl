# Without shared_preload_libraries, CREATE EXTENSION fails with a clear error
# and a hint, and leaves nothing behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

my ($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE EXTENSION privstat');
isnt($ret, 0, 'CREATE EXTENSION fails without the preload');
like($stderr, qr/ERROR:  privstat must be loaded via shared_preload_libraries/, 'the error says why');
like($stderr, qr/HINT:  Add privstat to shared_preload_libraries in postgresql\.conf and restart the server\./,
	'the hint says how to fix it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'privstat'}),
	'0', 'nothing is left behind');

($ret, $stdout, $stderr) = $node->psql('postgres', q{LOAD 'privstat'});
is($ret, 0, 'LOAD of the library alone is harmless');
ok(!-e $node->data_dir . '/privstat.key', 'no key file is created without the preload');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION privstat');
is($node->safe_psql('postgres', q{SELECT privstat.pseudonymize('x') IS NOT NULL}), 't',
	'with the preload, CREATE EXTENSION and pseudonymize work');

done_testing();
