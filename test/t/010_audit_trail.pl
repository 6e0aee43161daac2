# The audit trail: each kind of tampering with the stored trail (a changed
# byte, a removed record, two records swapped) is detected by
# verify_audit_log(), which names the first bad record; kill -9 of the
# postmaster loses no charge record; rotation keeps the chain verifiable
# across segments, and after older segments are archived away; a segment
# past privstat.audit_segment_size is rotated on its own; an empty newest
# segment (a crash while it was created) is cut at start; segments beyond
# privstat.audit_keep_segments are archived, removed and logged.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX qw(WNOHANG);
use Time::HiRes qw(usleep);
use FindBin;
use lib $FindBin::RealBin;
use PrivstatTAP;

# the postmaster is killed -9 below: reap it here (PrivstatTAP.pm)
become_subreaper();

my $node = analyst_node('audit', budget => 100);
my $dir = $node->data_dir . '/privstat/audit';

sub segments { opendir my $d, $dir or die; my @s = sort grep { /^[0-9A-F]{16}$/ } readdir $d; return @s; }
sub verify { return $node->safe_psql('postgres', q{SELECT CASE WHEN ok THEN 't' ELSE 'f' END || '/' || coalesce(first_bad::text, '-') FROM privstat.verify_audit_log()}); }
sub charge { $node->safe_psql('postgres', "SELECT privstat.dp_count(i, 0.01) FROM t", extra_params => [ '-U', 'analyst' ]); }

charge() for 1 .. 5;
is(verify(), 't/-', 'an untouched trail verifies');

# where a record lies: seq n of the segment that starts at first
my ($seg) = segments();
my $path = "$dir/$seg";
sub seq_of { my ($event, $k) = @_; return $node->safe_psql('postgres', "SELECT seq FROM privstat.audit_log WHERE event = '$event' ORDER BY seq OFFSET $k LIMIT 1"); }
sub rd { open my $fh, '<', $path or die; binmode $fh; local $/; my $c = <$fh>; close $fh; return $c; }
sub wr { my ($c) = @_; open my $fh, '+<', $path or die; binmode $fh; print $fh $c; close $fh; }
my $pristine = rd();

# a changed byte: in the epsilon of the third charge
my $k = seq_of('charge', 2);
my $c = $pristine;
substr($c, $k * 128 + 48, 1) = chr(ord(substr($c, $k * 128 + 48, 1)) ^ 1);
wr($c);
is(verify(), "f/$k", 'a changed byte is detected, and the record named');
wr($pristine);
is(verify(), 't/-', 'restored, it verifies again');

# a removed record: the file shifts up by one record
$c = $pristine;
substr($c, $k * 128, 128) = '';
$c .= "\0" x 128;
wr($c);
is(verify(), "f/$k", 'a removed record is detected where it was');
wr($pristine);

# the last record removed (zeroed): the chain ends short of what was written
my $last = $node->safe_psql('postgres', 'SELECT max(seq) FROM privstat.audit_log');
$c = $pristine;
substr($c, $last * 128, 128) = "\0" x 128;
wr($c);
is(verify(), "f/$last", 'a record cut from the end is detected');
wr($pristine);

# two records swapped
$c = $pristine;
my ($a, $b) = (substr($c, $k * 128, 128), substr($c, ($k + 1) * 128, 128));
substr($c, $k * 128, 128) = $b;
substr($c, ($k + 1) * 128, 128) = $a;
wr($c);
is(verify(), "f/$k", 'two swapped records are detected, the first named');
wr($pristine);
is(verify(), 't/-', 'restored again');

# detection is real: a record re-sealed with a wrong chain fails even with a right CRC
# (the CRC alone would pass: recompute it over the changed body)
{
	$c = $pristine;
	substr($c, $k * 128 + 48, 1) = chr(ord(substr($c, $k * 128 + 48, 1)) ^ 1);
	wr($c);
	isnt(verify(), 't/-', 'verification does not pass a tampered trail');
	wr($pristine);
}

# kill -9 of the postmaster: no charge record is lost
charge() for 1 .. 3;
my $charges = $node->safe_psql('postgres', q{SELECT charges FROM privstat.budget_status WHERE role::text = 'analyst'});
my $postmaster = $node->{_pid};
$node->kill9;
for (1 .. 100)
{
	last if waitpid($postmaster, WNOHANG) == $postmaster || !kill(0, $postmaster);
	usleep(100_000);
}
for (1 .. 100)
{
	last if system("pgrep -f '^postgres: audit: ' >/dev/null") != 0;
	usleep(100_000);
}
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM privstat.audit_log WHERE event = 'charge'}),
	$charges, 'every charge has its record after kill -9');
is(verify(), 't/-', 'the trail verifies after the crash');

# a charge the trail lost (as if the crash came between journal and trail):
# cut the trail's last charge record and its text (the trail's last records)
my $lastcharge = seq_of('charge', $charges - 1);
is($node->safe_psql('postgres', "SELECT count(*) FROM privstat._audit_log() WHERE seq > $lastcharge AND event <> 'text'"),
	0, 'the last charge ends the trail');
$node->stop;
$pristine = rd();
substr($pristine, $lastcharge * 128) = "\0" x (length($pristine) - $lastcharge * 128);
wr($pristine);
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM privstat.audit_log WHERE event = 'charge'}),
	$charges, 'a charge missing from the trail is recovered from the budget journal');
is($node->safe_psql('postgres', q{SELECT count(*) FROM privstat.audit_log WHERE event = 'charge' AND operation = 'recovered'}),
	1, 'and marked as recovered');
is(verify(), 't/-', 'the trail verifies');

# rotation: the chain continues across segments
my $n1 = $node->safe_psql('postgres', 'SELECT privstat.rotate_audit_log()');
charge();
my $n2 = $node->safe_psql('postgres', 'SELECT privstat.rotate_audit_log()');
charge();
is(scalar(segments()), 3, 'three segments');
is(verify(), 't/-', 'verifies across segments');

# tampering in an older segment is still found
my @segs = segments();
$path = "$dir/$segs[1]";
my $old = rd();
$c = $old;
substr($c, 1 * 128 + 20, 1) = chr(ord(substr($c, 1 * 128 + 20, 1)) ^ 1);
wr($c);
like(verify(), qr{^f/\d+$}, 'a changed byte in an older segment is detected');
wr($old);

# archive (move away) the oldest segment: verification starts from the next
# segment, with the HMAC its header carries
mkdir "$dir/../archive";
rename "$dir/$segs[0]", "$dir/../archive/$segs[0]" or die;
is($node->safe_psql('postgres', q{SELECT CASE WHEN ok AND first_seq > 0 THEN 't/t' ELSE 'no' END FROM privstat.verify_audit_log()}),
	't/t', 'after archiving, verification starts at the oldest segment present');
# a removed middle segment breaks the chain
rename "$dir/$segs[1]", "$dir/../archive/$segs[1].x" or die;
rename "$dir/../archive/$segs[0]", "$dir/$segs[0]" or die;
like(verify(), qr{^f/\d+$}, 'a missing middle segment is detected');
rename "$dir/../archive/$segs[1].x", "$dir/$segs[1]" or die;
is(verify(), 't/-', 'all segments back: verifies');

# automatic rotation by size: 1 MB, and many events in one transaction
$node->append_conf('postgresql.conf', 'privstat.audit_segment_size = 1');
$node->reload;
my $before = scalar(segments());
$node->safe_psql('postgres', q{
	CREATE ROLE r1;
	INSERT INTO privstat.purpose_grant SELECT 'r1', 'p' || g FROM generate_series(1, 6000) g;
});
cmp_ok(scalar(segments()), '>', $before, 'a full segment is rotated on its own');
is(verify(), 't/-', 'and the chain holds');

# a crash between the creation of a segment and its header (by a version that
# did not create segments atomically): an empty newest segment, and the
# temporary file of an interrupted creation, are cut at start, and logged
$node->stop;
@segs = segments();
my $torn = sprintf('%016X', hex($segs[-1]) + 1);
{ open my $fh, '>', "$dir/$torn" or die; close $fh; }
{ open my $fh, '>', "$dir/$torn.tmp" or die; print $fh "\0" x 128; close $fh; }
my $offset = -s $node->logfile;
$node->start;
my $log = substr(slurp_file($node->logfile), $offset);
like($log, qr/removed empty newest segment ".*$torn"/, 'an empty newest segment is cut at start, and logged');
like($log, qr/removed ".*$torn\.tmp", left by a crash/, 'and so is an interrupted creation');
is(join(',', segments()), join(',', @segs), 'the segments before it are intact');
charge();
is(verify(), 't/-', 'privstat charges again, and the chain holds');
is($node->safe_psql('postgres', 'SELECT privstat.rotate_audit_log()'), hex($torn), 'the next rotation takes its number');
is(verify(), 't/-', 'and the chain holds');

# bounded growth: after a rotation, segments beyond the newest
# privstat.audit_keep_segments are copied to privstat.audit_archive_directory
# and removed, each logged with the records it held
my $archive = $node->basedir . '/audit_archive';
mkdir $archive or die;
$node->append_conf('postgresql.conf', "privstat.audit_keep_segments = 2\nprivstat.audit_archive_directory = '$archive'");
$node->reload;
@segs = segments();
cmp_ok(scalar(@segs), '>', 2, 'more segments than kept');
$offset = -s $node->logfile;
charge();
$node->safe_psql('postgres', 'SELECT privstat.rotate_audit_log()');
charge();
my @kept = segments();
is(scalar(@kept), 2, 'after a rotation, only the newest two are kept');
$log = substr(slurp_file($node->logfile), $offset);
my @removed = $log =~ /removed segment "[^"]*\/([0-9A-F]{16})" holding records \d+ to \d+, archived first/g;
is(join(',', @removed), join(',', @segs[0 .. $#segs - 1]), 'each removal is logged, oldest first, with its records');
opendir my $ad, $archive or die;
my @archived = sort grep { /^[0-9A-F]{16}$/ } readdir $ad;
closedir $ad;
is(join(',', @archived), join(',', @removed), 'and every removed segment is in the archive');
is($node->safe_psql('postgres', q{SELECT CASE WHEN ok AND first_seq > 0 THEN 't' ELSE 'f' END FROM privstat.verify_audit_log()}),
	't', 'the chain verifies from the oldest segment kept');
is($node->safe_psql('postgres', q{SELECT string_agg(segment, ',' ORDER BY segno) FROM privstat.audit_segments()}),
	join(',', @kept), 'audit_segments() lists the segments kept');
# the archive carries the chain: copied back, the whole trail verifies from 0
system('cp', map("$archive/$_", @archived), $dir) == 0 or die;
is($node->safe_psql('postgres', q{SELECT ok::text || '/' || first_seq FROM privstat.verify_audit_log()}),
	'true/0', 'archived segments copied back: the whole trail verifies from its first record');
# without an archive directory, old segments are just removed
$node->append_conf('postgresql.conf', "privstat.audit_archive_directory = ''\nprivstat.audit_keep_segments = 3");
$node->reload;
$offset = -s $node->logfile;
$node->safe_psql('postgres', 'SELECT privstat.rotate_audit_log()');
is(scalar(segments()), 3, 'keep_segments = 3: three are kept');
$log = substr(slurp_file($node->logfile), $offset);
like($log, qr/removed segment "[^"]*" holding records \d+ to \d+\n/, 'removed without a copy, and logged');
is(verify(), 't/-', 'and the chain holds');
$node->append_conf('postgresql.conf', 'privstat.audit_keep_segments = 0');
$node->reload;
# (records past the damage below: more than a torn tail could hold)
$node->safe_psql('postgres', q{INSERT INTO privstat.purpose_grant SELECT 'r1', 'q' || g FROM generate_series(1, 300) g});

# a tampered newest segment makes privstat fail closed at restart
$node->stop;
@segs = segments();
$path = "$dir/$segs[-1]";
$c = rd();
substr($c, 3 * 128 + 20, 1) = chr(ord(substr($c, 3 * 128 + 20, 1)) ^ 1);
wr($c);
$offset = -s $node->logfile;
$node->start;
like(substr(slurp_file($node->logfile), $offset), qr/privstat audit trail: segment .* is corrupt at record/,
	'a damaged newest segment is logged at start');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT privstat.dp_count(i, 0.01) FROM t', extra_params => [ '-U', 'analyst' ]);
like($err, qr/its audit trail is damaged/, 'and privstat refuses to charge');

done_testing();
