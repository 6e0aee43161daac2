# Helpers shared by privstat's TAP tests (test/t/*.pl): use FindBin and
# "use lib $FindBin::RealBin" to load it.
package PrivstatTAP;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(become_subreaper analyst_node);

# A started node with privstat preloaded (privstat.release_cache_ttl = 0:
# every repeated query is a new charge) and, in database postgres, the
# extension, a table t of 1000 rows (column i) and a role analyst that may
# read it, with a budget of epsilon $opt{budget}.  $opt{init} holds options
# of init (allows_streaming ...); $opt{before_start} is called with the node
# between initdb and the first start.
sub analyst_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'\n"
		  . "privstat.release_cache_ttl = 0    # every repeated query is a new charge here");
	$opt{before_start}->($node) if $opt{before_start};
	$node->start;
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION privstat;
		CREATE TABLE t AS SELECT g AS i FROM generate_series(1, 1000) g;
		CREATE ROLE analyst LOGIN;
		GRANT SELECT ON t TO analyst;
		SELECT privstat.set_budget('analyst', $opt{budget});
	});
	return $node;
}

# Become a subreaper (prctl PR_SET_CHILD_SUBREAPER, x86_64 and aarch64
# numbers), so that a postmaster a test kills -9 is reparented to the test
# and reaped here: where PID 1 does not reap orphans (containers, chroots), it
# would otherwise linger as a zombie that blocks the next start.
sub become_subreaper
{
	my %prctl = (x86_64 => 157, aarch64 => 167);
	my ($arch) = `uname -m` =~ /(\S+)/;
	syscall($prctl{$arch}, 36, 1, 0, 0, 0) if $prctl{$arch};
	return;
}

1;
