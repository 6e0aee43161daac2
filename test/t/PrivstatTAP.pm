# Helpers shared by privstat's TAP tests (test/t/*.pl): use FindBin and
# "use lib $FindBin::RealBin" to load it.
package PrivstatTAP;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(become_subreaper preloaded_node analyst_node charged_node node_from_backup);

# A started node with privstat preloaded and privstat.release_cache_ttl = 0
# (every repeated query is a new charge).  $opt{init} holds options of init
# (allows_streaming ...), $opt{conf} more postgresql.conf lines;
# $opt{before_start} is called with the node between initdb and the start.
sub preloaded_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opt{init} // {} });
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'privstat'\n"
		  . "privstat.release_cache_ttl = 0    # every repeated query is a new charge here\n"
		  . ($opt{conf} // ''));
	$opt{before_start}->($node) if $opt{before_start};
	$node->start;
	return $node;
}

# A preloaded node (options as preloaded_node) where, in database postgres,
# the test's own role has a budget of epsilon $opt{budget} and has spent 1 on
# a table t of 100 rows (column i).
sub charged_node
{
	my ($name, %opt) = @_;
	my $node = preloaded_node($name, %opt);
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION privstat;
		CREATE TABLE t AS SELECT g AS i FROM generate_series(1, 100) g;
		SELECT privstat.set_budget(current_user::regrole, $opt{budget});
		SELECT privstat.dp_count(i, 1) FROM t;
	});
	return $node;
}

# A preloaded node (options as preloaded_node) with, in database postgres,
# the extension, a table t of 1000 rows (column i) and a role analyst that
# may read it, with a budget of epsilon $opt{budget}.
sub analyst_node
{
	my ($name, %opt) = @_;
	my $node = preloaded_node($name, %opt);
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

# A new node made from backup $backup of $source (init_from_backup with
# %params), not started.  The harness copies the backup without its file
# modes; pg_basebackup keeps the key file's 0600, which privstat requires.
sub node_from_backup
{
	my ($name, $source, $backup, %params) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init_from_backup($source, $backup, %params);
	chmod 0600, $node->data_dir . '/privstat.key';
	return $node;
}

1;
