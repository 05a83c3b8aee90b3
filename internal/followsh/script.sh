# gaffer follow: polls files and prints what they gain, framed (see
# parse.go). POSIX sh with coreutils or busybox only: runs under
# dash, bash and busybox sh. Set before it: GF_NONCE, GF_FRESH (1: a first
# start, files there follow GF_FROM; else files not in the positions are
# new, from their start), GF_FROM (start|end),
# GF_NPAT and GF_PAT_1..n (paths or globs), GF_NPOS and GF_PP_i, GF_PI_i,
# GF_PO_i (positions: path, "dev:ino", offset).
#
# Output lines (k is a slot: one file, by path and inode):
#   GAFFER-FOLLOW 1 <nonce>      start (what the login shell printed before is not ours)
#   O k <id> <off> <why> <path>   slot k follows <path> (inode <id>) from <off>
#   D k <off> <len>\n<len bytes>  bytes of slot k's file from <off>
#   T k <size>                    slot k's file was truncated: from 0 again
#   R k <newpath>                 slot k's file was renamed: read to its end under its new name
#   X k <why>                     slot k is over (drained, or gone)
#   M k                           slot k's path has no file now
#   Z j                           pattern j matches no file now
#   E <text>                      a problem the follow goes on despite
#   Y                             the first round is done
#   H                             heartbeat: a write, so that a follower whose
#                                 connection is gone dies of SIGPIPE
LF='
'
OIFS=$IFS
# The C locale: each command it starts then reads no locale files (about
# 15% of a stat's CPU here), and messages are the same everywhere.
LC_ALL=C
export LC_ALL
# A directory of our own for the chunks a round reads (a glob that matches
# the files in /tmp does not match them).
T=$(mktemp -d 2>/dev/null) || {
	T=/tmp/gaffer-follow.$$
	mkdir -m 700 "$T" || exit 1
}
trap 'rm -rf "$T"' EXIT
trap 'rm -rf "$T"; exit 1' HUP INT TERM PIPE
# The wait between rounds. A shell with a fractional `read -t` (bash,
# busybox) waits on a FIFO nobody writes to: no process per round, so it
# can poll more often. Else (dash) a sleep process per round: fractional
# in GNU and busybox sleep (most builds), else 1s. HB: rounds between
# heartbeats (~2 s); FULL: rounds between stat rounds at the least (~1 s).
Z=0.25 HB=8 FULL=4 WT=
(read -t 0 x) </dev/null 2>/dev/null
if [ $? -lt 2 ] && mkfifo "$T/w" 2>/dev/null && exec 3<>"$T/w"; then
	Z=0.1 HB=20 FULL=10 WT=1
else
	sleep 0.01 2>/dev/null || Z=1 HB=2 FULL=1
fi
# dd that skips and counts in bytes (GNU, and busybox as Alpine builds
# it) reads a chunk in one process; else dd | tail | head.
DDB=
[ "$(printf abcd | dd bs=4 skip=1 count=2 iflag=skip_bytes,count_bytes 2>/dev/null)" = bc ] && DDB=1
CH=262144 # bytes read per file per round, at most
GRACE=20  # rounds a renamed file is drained after it stopped growing
N=0       # slots
MAP=$LF   # "<path>\t<k>\n" for each slot following a path
TAB='	'

# A write that fails ends the script, also where SIGPIPE is ignored.
say() { printf '%s\n' "$*" || exit 1; }

# slot PATH: k = the slot following PATH, or empty.
slot() {
	case $MAP in
	*"$LF$1$TAB"*) k=${MAP#*"$LF$1$TAB"}; k=${k%%"$LF"*} ;;
	*) k= ;;
	esac
}

unmap() { MAP="${MAP%%"$LF$1$TAB$2$LF"*}$LF${MAP#*"$LF$1$TAB$2$LF"}"; }

# open PATH ID OFF WHY: a new slot following PATH.
open() {
	N=$((N + 1))
	eval "P_$N=\$1 R_$N=\$1 I_$N=\$2 O_$N=\$3 A_$N=f W_$N=0 S_$N=0"
	MAP="$MAP$1$TAB$N$LF"
	k=$N
	say "O $N $2 $3 $4 $1"
	[ -r "$1" ] || say "E cannot read $1: permission denied"
}

# findid DIR ID: g = the regular file in DIR with inode ID, or empty.
findid() {
	g=
	fo=$(stat -c '%d:%i %f %n' "$1"/* "$1"/.[!.]* 2>/dev/null)
	while read -r fid fmode fname; do
		case $fmode in 8???) ;; *) continue ;; esac
		[ "$fid" = "$2" ] && g=$fname && return
	done <<EOF
$fo
EOF
}

# drain K PATH: slot K's file now is PATH, renamed: read it to its end.
drain() {
	eval "p=\$P_$1"
	unmap "$p" "$1"
	eval "R_$1=\$2 A_$1=d W_$1=0"
	say "R $1 $2"
}

# rotated K ID: the file at slot K's path is another one (ID); find the
# old one by its inode in the same directory, drain it, follow the new.
rotated() {
	eval "p=\$P_$1 oi=\$I_$1"
	d=${p%/*}
	[ "$d" = "$p" ] && d=.
	[ -z "$d" ] && d=/
	findid "$d" "$oi"
	if [ -n "$g" ]; then
		drain "$1" "$g"
		why=rotated
	else
		unmap "$p" "$1"
		eval "A_$1=x"
		say "X $1 gone"
		why=recreated
	fi
	open "$p" "$2" 0 "$why"
}

# readchunk K FILE OFF SIZE ID: read up to CH new bytes of FILE into the
# round's next chunk file; flush sends them. A process per file (dd), the
# rest is per round: a fork costs milliseconds on a busy host.
readchunk() {
	n=$(($4 - $3))
	[ $n -gt $CH ] && n=$CH && busy=1
	NQ=$((NQ + 1))
	q=$T/$NQ
	: >"$q" 2>/dev/null || {
		say "E cannot write to $T"
		exit 1
	}
	if [ -n "$DDB" ]; then
		dd if="$2" of="$q" bs=65536 skip="$3" count=$n iflag=skip_bytes,count_bytes 2>/dev/null
	else
		b=$(($3 / 4096))
		s=$(($3 % 4096))
		c=$(((s + n + 4095) / 4096))
		dd if="$2" bs=4096 skip=$b count=$c 2>/dev/null | tail -c +$((s + 1)) | head -c $n >"$q"
	fi
	eval "Q_$NQ=\$1 QO_$NQ=\$3 QI_$NQ=\$5 QP_$NQ=\$2"
}

# flush: send the chunks read this round. One stat says for each whether
# its path is still the file it was read as (if it was rotated meanwhile,
# the bytes may be another file's: dropped, the next round sees the
# rotation) and how many bytes were read; one cat sends them, each after
# its header.
flush() {
	[ "$NQ" -gt 0 ] || return 0
	set --
	i=1
	while [ $i -le $NQ ]; do
		eval "set -- \"\$@\" \"\$QP_$i\" \"\$T/$i\""
		i=$((i + 1))
	done
	# In the order given, without the names stat fails on: a chunk's
	# line follows its path's if the path is there.
	fo=$(stat -L -c '%d:%i %s %n' "$@" 2>/dev/null)
	set --
	pid=
	while read -r fid fsz fname; do
		case $fname in
		"$T"/*)
			i=${fname#"$T"/}
			eval "qk=\$Q_$i qo=\$QO_$i qi=\$QI_$i"
			if [ "$pid" = "$qi" ] && [ "$fsz" -gt 0 ]; then
				printf 'D %s %s %s\n' "$qk" "$qo" "$fsz" >"$T/h$i" || exit 1
				set -- "$@" "$T/h$i" "$fname"
				eval "O_$qk=$((qo + fsz))"
				# As much as a round reads: maybe more is there.
				[ "$fsz" -lt $CH ] || busy=1
			else
				# Rotated or truncated meanwhile: the next round stats.
				again=1
			fi
			pid=
			;;
		*) pid=$fid ;;
		esac
	done <<EOF
$fo
EOF
	NQ=0
	[ $# -gt 0 ] || return 0
	cat "$@" || exit 1
	# Emptied, not removed (a fork): the space is given back.
	for qf in "$@"; do
		: >"$qf"
	done
}

# sync K ID SIZE: slot K's file (by its read path) is ID with SIZE bytes.
sync() {
	eval "ci=\$I_$1 ca=\$A_$1 cp=\$R_$1 S_$1=$R"
	k=$1
	if [ "$ca" = m ]; then
		# Back after a poll without it: deleted and created again, even
		# with the same inode (file systems reuse them at once).
		eval "p=\$P_$1"
		unmap "$p" "$1"
		eval "A_$1=x"
		say "X $1 gone"
		open "$p" "$2" 0 recreated
		eval "S_$k=$R"
	elif [ "$2" != "$ci" ]; then
		if [ "$ca" = d ]; then
			# The drained file's name is another file's now.
			eval "A_$1=x"
			say "X $1 gone"
			return
		fi
		rotated "$1" "$2"
		eval "S_$k=$R"
	fi
	eval "co=\$O_$k ca=\$A_$k cp=\$R_$k"
	if [ "$3" -lt "$co" ]; then
		say "T $k $3"
		co=0
		eval "O_$k=0"
	fi
	if [ "$3" -gt "$co" ]; then
		eval "W_$k=0"
		readchunk "$k" "$cp" "$co" "$3" "$2"
	elif [ "$ca" = d ]; then
		eval "w=\$W_$k"
		w=$((w + 1))
		eval "W_$k=$w"
		if [ $w -ge $GRACE ]; then
			eval "A_$k=x"
			say "X $k drained"
		fi
	fi
}

say "GAFFER-FOLLOW 1 $GF_NONCE"

# Resume: each position continues where it stopped, or drains a file
# renamed in the meantime.
i=1
while [ "$i" -le "$GF_NPOS" ]; do
	eval "pp=\$GF_PP_$i pi=\$GF_PI_$i po=\$GF_PO_$i"
	i=$((i + 1))
	cur=$(stat -L -c %d:%i "$pp" 2>/dev/null)
	slot "$pp"
	if [ "$cur" = "$pi" ]; then
		[ -n "$k" ] && continue
		open "$pp" "$pi" "$po" resumed
		continue
	fi
	d=${pp%/*}
	[ "$d" = "$pp" ] && d=.
	[ -z "$d" ] && d=/
	findid "$d" "$pi"
	if [ -n "$g" ]; then
		open "$pp" "$pi" "$po" resumed
		drain "$k" "$g"
	elif [ -z "$cur" ] && [ -z "$k" ]; then
		open "$pp" "$pi" "$po" resumed
		eval "A_$k=m"
		say "M $k"
	else
		open "$pp" "$pi" "$po" resumed
		unmap "$pp" "$k"
		eval "A_$k=x"
		say "X $k gone"
	fi
done

# A round stats the files only if something may have changed since the
# last one that did (a stat round). Builtins tell (no process): the
# patterns expand to the same files, each older than the marker MK
# (written just before that stat, so a file written after it is not
# older: with coarse time stamps a write in the same tick makes the file
# not older either, so is seen), none renamed being drained, that round
# read all there was. What mtime misses (a file renamed onto a followed
# path keeps its old mtime; a file system whose clock is not ours) waits
# for the next stat round: every FULL rounds.
MK=$T/m MN=$T/n
# light: the files in CF (following slots' paths, one a line) are not
# older than the marker: read what each gained since its offset (up to CH
# bytes), without a stat first: flush's stat checks each is still its
# slot's file and says how much came. A file truncated (nothing read) or
# replaced there makes the next round stat. Fails, reading nothing, if a
# path has no following slot.
light() {
	set -f
	IFS=$LF
	for f in $CF; do
		slot "$f"
		[ -n "$k" ] || break
	done
	IFS=$OIFS
	set +f
	[ -n "$k" ] || return 1
	set -f
	IFS=$LF
	for f in $CF; do
		IFS=$OIFS
		slot "$f"
		eval "co=\$O_$k ci=\$I_$k"
		readchunk "$k" "$f" "$co" $((co + CH)) "$ci"
	done
	IFS=$OIFS
	set +f
	flush
}

# tick: a round is over; a heartbeat every HB rounds.
tick() {
	beat=$((beat + 1))
	if [ $beat -ge $HB ]; then
		say H
		beat=0
	fi
}

# pause: a round is over; wait for the next.
pause() {
	tick
	if [ -n "$WT" ]; then
		read -t $Z x <&3
	else
		sleep $Z
	fi
}

R=0
NQ=0
beat=0
idle=0  # rounds since the last stat round
again=1 # the next round stats: the first, or the last read not all
PL=
while :; do
	busy=
	# The files: each pattern expanded (no field splitting but at newlines,
	# which paths may not hold), plus the renamed files being drained.
	set --
	j=1
	while [ "$j" -le "$GF_NPAT" ]; do
		eval "pat=\$GF_PAT_$j"
		m=0
		IFS=$LF
		for f in $pat; do
			[ -f "$f" ] && set -- "$@" "$f" && m=1
		done
		IFS=$OIFS
		eval "z=\${Z_$j:-0}"
		if [ $m = 0 ] && [ "$z" = 0 ]; then
			say "Z $j"
			eval "Z_$j=1"
		elif [ $m = 1 ]; then
			eval "Z_$j=0"
		fi
		j=$((j + 1))
	done
	if [ -z "$again" ] && [ -z "$DR" ] && [ $idle -lt $FULL ]; then
		IFS=$LF
		L="$*"
		IFS=$OIFS
		if [ "$L" = "$PL" ]; then
			# The next marker, before the files are looked at: what is
			# written after this is not older than it.
			: >"$MN" 2>/dev/null
			CF=
			for f; do
				[ "$f" -ot "$MK" ] || CF="$CF$f$LF"
			done
			if [ -z "$CF" ]; then
				idle=$((idle + 1))
				pause
				continue
			fi
			if light; then
				idle=$((idle + 1))
				m=$MK MK=$MN MN=$m
				if [ -n "$busy" ]; then
					again=1
					tick
				else
					pause
				fi
				continue
			fi
		fi
	fi
	IFS=$LF
	PL="$*"
	IFS=$OIFS
	R=$((R + 1))
	idle=0
	again=
	: >"$MK" 2>/dev/null || {
		say "E cannot write to $T"
		exit 1
	}
	k=1
	while [ $k -le $N ]; do
		eval "a=\$A_$k"
		[ "$a" = d ] && eval "set -- \"\$@\" \"\$R_$k\""
		k=$((k + 1))
	done
	out=
	[ $# -gt 0 ] && out=$(stat -L -c '%d:%i %s %n' "$@" 2>/dev/null)
	while read -r id sz name; do
		[ -n "$id" ] || continue
		slot "$name"
		if [ -z "$k" ]; then
			# A drained file by its new name?
			dk=
			k=1
			while [ $k -le $N ]; do
				eval "a=\$A_$k r=\$R_$k"
				[ "$a" = d ] && [ "$r" = "$name" ] && dk=$k && break
				k=$((k + 1))
			done
			if [ -n "$dk" ]; then
				eval "s=\$S_$dk"
				[ "$s" = "$R" ] || sync "$dk" "$id" "$sz"
				continue
			fi
			if [ $R = 1 ] && [ "$GF_FRESH" = 1 ]; then
				if [ "$GF_FROM" = start ]; then
					open "$name" "$id" 0 start
				else
					open "$name" "$id" "$sz" start
				fi
			else
				open "$name" "$id" 0 new
			fi
		fi
		eval "s=\$S_$k"
		[ "$s" = "$R" ] || sync "$k" "$id" "$sz"
	done <<EOF
$out
EOF
	# Slots whose file was not seen this round.
	DR=
	k=1
	while [ $k -le $N ]; do
		eval "a=\$A_$k s=\$S_$k"
		[ "$a" = d ] && DR=1
		if [ "$s" != "$R" ]; then
			case $a in
			f)
				eval "A_$k=m"
				say "M $k"
				;;
			d)
				eval "A_$k=x"
				say "X $k gone"
				;;
			esac
		fi
		k=$((k + 1))
	done
	flush
	[ $R = 1 ] && say Y
	if [ -n "$busy" ]; then
		again=1
		tick
	else
		pause
	fi
done
