# The master key file: created at first start with mode 0600 and a LOG line
# asking for a backup, with its check value beside it (privstat.key_check);
# stable across a restart and an immediate shutdown; a bad, missing or
# different key file stops the server with a log line naming the file and
# the fix; the key never reaches the log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('keys');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'");
# privstat's operators live in its schema: put it on the path, as doc/install.md says
$node->append_conf('postgresql.conf', q{search_path = '"$user", public, privstat'});
$node->start;

my $keyfile = $node->data_dir . '/privstat.key';
ok(-f $keyfile, 'key file created in the data directory at first start');
is((stat($keyfile))[2] & 07777, 0600, 'key file has mode 0600');
my $key = slurp_file($keyfile);
like($key, qr/^[0-9a-f]{64}\n$/, 'key file holds 64 hex digits');
like(slurp_file($node->logfile),
	qr/privstat created a new master key file ".*privstat\.key".*\n.*\n.*HINT:  Back this file up/,
	'first start logs that the key file must be backed up');
my $checkfile = $node->data_dir . '/privstat.key_check';
ok(-f $checkfile, 'the key check file is written at first start');
is((stat($checkfile))[2] & 07777, 0600, 'key check file has mode 0600');
my $check = slurp_file($checkfile);
like($check, qr/^[0-9a-f]{32}\n$/, 'key check file holds 32 hex digits');
unlike($key, qr/\Q@{[substr($check, 0, 8)]}\E/, 'the check value is not a part of the key');

$node->safe_psql('postgres', q{
	CREATE EXTENSION privstat;
	CREATE TABLE ids AS
		SELECT g AS id, privstat.pseudonymize(g) AS p, privstat.pseudonymize(g, 'customer') AS pc,
		       privstat.seal('user' || g || '@example.com', 'customer') AS s
		FROM generate_series(1, 1000) g;
});
my $tokens_sql = q{SELECT md5(string_agg(p::text || pc::text || s::text, ',' ORDER BY id)) FROM ids};
my $recompute_sql = q{
	SELECT count(*) FROM ids
	WHERE p = privstat.pseudonymize(id) AND pc = privstat.pseudonymize(id, 'customer')
	  AND s = privstat.seal('user' || id || '@example.com', 'customer')
	  AND privstat.unseal(s) = 'user' || id || '@example.com'};
my $before = $node->safe_psql('postgres', $tokens_sql);
is($node->safe_psql('postgres', $recompute_sql), '1000', 'values recompute before any restart');

$node->restart;
is(slurp_file($keyfile), $key, 'key file unchanged by a restart');
is($node->safe_psql('postgres', $tokens_sql), $before, 'stored tokens unchanged after a restart');
is($node->safe_psql('postgres', $recompute_sql), '1000', 'same pseudonyms and seals after a restart');

$node->stop('immediate');
$node->start;
is(slurp_file($keyfile), $key, 'key file unchanged by an immediate shutdown');
is($node->safe_psql('postgres', $tokens_sql), $before, 'stored tokens unchanged after crash recovery');
is($node->safe_psql('postgres', $recompute_sql), '1000', 'same pseudonyms and seals after crash recovery');

# Start the stopped server with a changed key file; return the new log text.
sub start_with_key_file
{
	my ($content, $mode) = @_;
	open my $fh, '>', $keyfile or die;
	print $fh $content;
	close $fh;
	chmod $mode, $keyfile;
	my $offset = -s $node->logfile;
	my $ok = $node->start(fail_ok => 1);
	my $log = substr(slurp_file($node->logfile), $offset);
	return ($ok, $log);
}

$node->stop;
my ($ok, $log) = start_with_key_file($key, 0640);
ok(!$ok, 'server refuses to start with a group-readable key file');
like($log, qr/FATAL:  privstat key file ".*privstat\.key" has group or world access/,
	'log names the key file and the problem');
like($log, qr/HINT:  Run chmod 0600 on the file/, 'log says how to fix it');

($ok, $log) = start_with_key_file($key, 0604);
ok(!$ok, 'server refuses to start with a world-readable key file');

($ok, $log) = start_with_key_file(substr($key, 0, 40) . "\n", 0600);
ok(!$ok, 'server refuses to start with a short key file');
like($log, qr/FATAL:  privstat key file ".*privstat\.key" is too short/, 'log says the key file is too short');
like($log, qr/HINT:  Restore the key file from its backup/, 'log says how to fix a short key file');

($ok, $log) = start_with_key_file('g' . substr($key, 1), 0600);
ok(!$ok, 'server refuses to start with a non-hex key file');
like($log, qr/FATAL:  privstat key file ".*privstat\.key" is malformed/, 'log says the key file is malformed');

($ok, $log) = start_with_key_file(substr($key, 0, 64) . "00\n", 0600);
ok(!$ok, 'server refuses to start with a key file that is too long');
like($log, qr/is malformed/, 'a long key file is malformed');

($ok, $log) = start_with_key_file('', 0600);
ok(!$ok, 'server refuses to start with an empty key file');

# a missing key file is not replaced by a new key: the cluster had one
unlink $keyfile;
my $offset = -s $node->logfile;
$ok = $node->start(fail_ok => 1);
$log = substr(slurp_file($node->logfile), $offset);
ok(!$ok, 'server refuses to start without its key file');
like($log, qr/FATAL:  privstat key file ".*privstat\.key" is missing/, 'log says the key file is missing');
like($log, qr/HINT:  Restore the key file from its backup\.  Only if no pseudonym or sealed value made with the old key must survive, remove ".*privstat\.key_check" as well/,
	'log says how to restore it, and how to start over deliberately');
ok(!-f $keyfile, 'no new key file was created');

# another valid key: refused, until the check file is removed on purpose;
# then nothing made with the old key matches or unseals
my $other = ('0123456789abcdef' x 4) . "\n";
($ok, $log) = start_with_key_file($other, 0600);
ok(!$ok, 'server refuses to start with another key');
like($log, qr/FATAL:  privstat key file ".*privstat\.key" does not hold this cluster's master key/,
	'log says the key is not the cluster\'s');
unlink $checkfile;
($ok, $log) = start_with_key_file($other, 0600);
ok($ok, 'server starts with another key once the check file is removed');
like($log, qr/privstat recorded the check value of its master key/, 'and records the new key\'s check value');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ids WHERE p = privstat.pseudonymize(id)'),
	'0', 'pseudonyms under another key do not match');
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT privstat.unseal(s) FROM ids WHERE id = 1');
like($stderr, qr/sealed value failed authentication/, 'a value sealed under another key is an error, not garbage');
$node->stop;

($ok, $log) = start_with_key_file($key, 0600);
ok(!$ok, 'the original key is now another key too');
unlink $checkfile;
($ok, $log) = start_with_key_file($key, 0600);
ok($ok, 'server starts again with the original key restored');
is(slurp_file($checkfile), $check, 'and the same check value as at first');
is($node->safe_psql('postgres', $recompute_sql), '1000', 'original key restores every value');

# key_file is postmaster-only and hidden from ordinary roles
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');
($ret, $stdout, $stderr) = $node->psql('postgres', 'SHOW privstat.key_file', extra_params => [ '-U', 'plain' ]);
like($stderr, qr/permission denied|must be superuser|privileges of pg_read_all_settings/,
	'an ordinary role cannot read privstat.key_file');
($ret, $stdout, $stderr) = $node->psql('postgres', q{SET privstat.key_file = '/tmp/x'});
like($stderr, qr/cannot be changed without restarting the server/, 'privstat.key_file cannot be changed at run time');

# a malformed check file stops the server
$node->stop;
open my $cfh, '>', $checkfile or die;
print $cfh "not a check value\n";
close $cfh;
$offset = -s $node->logfile;
$ok = $node->start(fail_ok => 1);
$log = substr(slurp_file($node->logfile), $offset);
ok(!$ok, 'server refuses to start with a malformed check file');
like($log, qr/FATAL:  privstat key check file ".*privstat\.key_check" is malformed/, 'log says the check file is malformed');
open $cfh, '>', $checkfile or die;
print $cfh $check;
close $cfh;
chmod 0600, $checkfile;

# a relative key_file is taken from the data directory; a missing one is
# created only once the cluster's check file is removed on purpose
$node->append_conf('postgresql.conf', "privstat.key_file = 'keys/other.key'");
mkdir $node->data_dir . '/keys';
$ok = $node->start(fail_ok => 1);
ok(!$ok, 'a new key_file path without its file is a missing key');
unlink $checkfile;
$node->start;
ok(-f $node->data_dir . '/keys/other.key', 'a relative key_file is created under the data directory');
isnt($node->safe_psql('postgres', 'SELECT count(*) FROM ids WHERE p = privstat.pseudonymize(id)'),
	'1000', 'a new key file gives new pseudonyms');

# no key bytes ever reach the server log
$node->stop;
my $alllog = slurp_file($node->logfile);
my $newkey = slurp_file($node->data_dir . '/keys/other.key');
chomp $key;
chomp $newkey;
unlike($alllog, qr/\Q$key\E/i, 'the key never appears in the server log');
unlike($alllog, qr/\Q$newkey\E/i, 'the second key never appears in the server log');
unlike($alllog, qr/\Q@{[substr($key, 0, 16)]}\E/i, 'no part of the key appears in the server log');

done_testing();
