# Helpers shared by privstat's TAP tests (test/t/*.pl): use FindBin and
# "use lib $FindBin::RealBin" to load it.
package PrivstatTAP;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(become_subreaper);

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
