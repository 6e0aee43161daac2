# Helpers shared by privstat's TAP tests (test/t/*.pl): use FindBin and
# "use lib $FindBin::RealBin" to load it.
package PrivstatTAP;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(become_subreaper preloaded_node analyst_node charged_node node_from_backup charge_waits);

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

# With the journal flusher stopped, each place a charging backend waits for
# its charge to be durable, in database postgres (tables t (i) and empty
# (i, k)): $pending is a query of records not yet durable.  Fails if the
# backend skipped its own wait (nothing else makes the charge durable).
sub charge_waits
{
	my ($node, $pending) = @_;

	Test::More::is($node->safe_psql('postgres', qq{
		SELECT privstat.dp_count(i, 0.5) IS NOT NULL, ($pending) FROM t;
	}), 't|0', 'a DP aggregate waits for its charge to be durable before it draws noise');

	Test::More::is($node->safe_psql('postgres', qq{
		SELECT privstat.dp_count(i, 0.5) FROM empty GROUP BY k;
		$pending;
	}), '0', 'a grouped DP query with no groups waits before it ends');

	my ($ret, $out, $err) = $node->psql('postgres', qq{
		SELECT privstat.dp_count(1 / (i - i), 0.5) FROM t;
		$pending;
	}, on_error_stop => 0);
	Test::More::like($err, qr/division by zero/, 'an error after the charge');
	Test::More::is($out, '0', 'the charge is durable before the error is reported');

	Test::More::is($node->safe_psql('postgres', qq{
		BEGIN;
		DECLARE c1 CURSOR FOR SELECT privstat.dp_count(i, 0.5) FROM t;
		DECLARE c2 CURSOR FOR SELECT privstat.dp_count(i, 0.5) FROM t;
		$pending;
		MOVE c2;
		$pending;
		COMMIT;
	}), "1\n0", 'cursors: a charge is durable by the next charge, or the first fetch');
	return;
}

1;
