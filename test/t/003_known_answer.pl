# Known-answer test: with a fixed master key, pseudonyms equal an independent
# computation in Perl of HKDF-SHA-256 (RFC 5869) and HMAC-SHA-256, so the
# derivation (purpose, domain, version) is exactly what doc/pseudonyms.md says.
use strict;
use warnings;
use Digest::SHA qw(hmac_sha256);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $master_hex = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
my $master = pack('H*', $master_hex);

sub derive
{
	my ($purpose, $domain, $version) = @_;
	my $prk = hmac_sha256($master, 'privstat key derivation v1');    # HKDF-Extract(salt, IKM)
	my $info = "privstat:$purpose:$domain:$version";
	return hmac_sha256($info . "\x01", $prk);                          # HKDF-Expand, first block
}

sub expected_pseudonym
{
	my ($value, $domain, $version) = @_;
	my $mac = hmac_sha256($value, derive('pseudonym', $domain, $version));
	return "pn:$version:" . unpack('H*', substr($mac, 0, 16));
}

my $node = PostgreSQL::Test::Cluster->new('kat');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'");
# privstat's operators live in its schema: put it on the path, as doc/install.md says
$node->append_conf('postgresql.conf', q{search_path = '"$user", public, privstat'});
open my $fh, '>', $node->data_dir . '/privstat.key' or die;
print $fh "$master_hex\n";
close $fh;
chmod 0600, $node->data_dir . '/privstat.key';
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION privstat');

is($node->safe_psql('postgres', q{SELECT privstat.pseudonymize('alice')}),
	expected_pseudonym('alice', 'default', 1), 'pseudonymize(text) matches HKDF + HMAC-SHA-256');
is($node->safe_psql('postgres', q{SELECT privstat.pseudonymize(42, 'customer')}),
	expected_pseudonym('42', 'customer', 1), 'pseudonymize(bigint, domain) matches');
is($node->safe_psql('postgres',
		q{SELECT privstat.pseudonymize('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 'device')}),
	expected_pseudonym('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'device', 1), 'pseudonymize(uuid, domain) matches');
is($node->safe_psql('postgres', q{SELECT privstat.pseudonymize('Zoë', 'customer')}),
	expected_pseudonym("Zo\xc3\xab", 'customer', 1), 'non-ASCII values are hashed as their UTF-8 bytes');

$node->safe_psql('postgres', q{SELECT privstat.rotate_key('customer')});
is($node->safe_psql('postgres', q{SELECT privstat.pseudonymize('alice', 'customer')}),
	expected_pseudonym('alice', 'customer', 2), 'after rotation, version 2 is derived with version 2');
is($node->safe_psql('postgres', q{SELECT privstat.pseudonymize('alice', 'customer', 1)}),
	expected_pseudonym('alice', 'customer', 1), 'an explicit version 1 still gives the old token');

done_testing();
