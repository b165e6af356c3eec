# Spindle bootstrap (docs/bootstrap.md). Run on the target, through any
# method that gives a shell with stdin and stdout, as:
#   SHELL -c SCRIPT SHELL LEVEL TABLE DIRS [NAME=VALUE ...]
# LEVEL  the child's SPINDLE_LOG_LEVEL
# TABLE  space-separated GOOS/GOARCH=SHA256 pairs, one per binary on offer;
#        a word *=build means the parent can build for any other platform
# DIRS   colon-separated cache directories; empty for the defaults below
# It answers on stdout with lines "SPINDLE-BOOT/2 VERB ...":
#   pid PID                            first: the process group to kill on failure
#   exec PLATFORM PID DIR              the binary runs now, as PID; link bytes follow
#   need PLATFORM UNAME                no binary on offer, *=build given: waiting
#                                      for a line "use SHA256" once it is built
#   miss PLATFORM CODECS TOOL KIB DIR  not cached: waiting for the upload
#   err CODE DETAIL...                 cannot go on
# After "miss" the parent sends, on the same stdin, one line
#   up TOKEN CODEC SIZE TOOL WANT
# (or "again", when another start has just uploaded the binary to DIR: the
# script looks for it once more and answers exec, or miss again)
# and then SIZE bytes of the binary encoded with CODEC, which the script
# reads exactly (never a byte more: what follows is the link), decodes
# on the fly into DIR/.spindle-SHA.TOKEN.tmp, verifies with TOOL against WANT,
# renames to DIR/spindle-SHA (atomic) and execs. One stream, one
# command, so a method that authenticates (sudo, su, doas) asks once.
# This file is joined into one line: every line ends with ";", ";;", "in",
# "then", "do", "else" or "{", and no line holds a single quote, a
# backslash pair or an exclamation mark (csh and fish quoting).
set -f;
umask 077;
m=SPINDLE-BOOT/2;
# say LINE: one answer line.
say() { printf "%s\n" "$m $1"; };
say "pid $$";
sh=$0; lvl=$1; tab=$2; dirs=$3; shift 3;
o=$IFS;
un=$(uname -sm 2>/dev/null </dev/null);
case ${un% *} in
  Linux) os=linux;; Darwin) os=darwin;; FreeBSD) os=freebsd;; OpenBSD) os=openbsd;;
  NetBSD) os=netbsd;; DragonFly) os=dragonfly;; SunOS) os=solaris;; *) os=unknown;;
esac;
case ${un##* } in
  x86_64|amd64) a=amd64;; aarch64|arm64) a=arm64;; i?86) a=386;; armv*) a=arm;;
  riscv64) a=riscv64;; ppc64le) a=ppc64le;; ppc64) a=ppc64;; s390x) a=s390x;;
  mips64) a=mips64;; loongarch64) a=loong64;; *) a=unknown;;
esac;
p=$os/$a; s=; b=;
for e in $tab; do case $e in "$p="*) s=${e#*=};; "*=build") b=1;; esac; done;
if [ -z "$s" ] && [ -n "$b" ]; then
  say "need $p $un"; read -r v s || exit 5; [ "$v" = use ] || s=;
fi;
if [ -z "$s" ]; then say "err platform $p $un"; exit 3; fi;
f=spindle-$s;
id=$(id -u 2>/dev/null </dev/null);
if [ -z "$dirs" ]; then
  case $XDG_CACHE_HOME in /*) c=$XDG_CACHE_HOME;; *) c=$HOME/.cache;; esac;
  t=${TMPDIR:-/tmp};
  dirs="$c/spindle:$t/spindle-$id:/var/tmp/spindle-$id:/dev/shm/spindle-$id";
fi;
# own DIR: DIR (after symlinks) belongs to us and only we may write to it.
own() {
  set -- $(ls -ldnL "$1" 2>/dev/null </dev/null);
  [ "$3" = "$id" ] && case $1 in d????-??-*) true;; *) false;; esac;
};
# run DIR ENV...: announce and become the cached binary.
run() {
  d=$1; shift;
  say "exec $p $$ $d";
  SPINDLE_CHILD=1; SPINDLE_LINK=stdio; SPINDLE_LOG_LEVEL=$lvl;
  export SPINDLE_CHILD SPINDLE_LINK SPINDLE_LOG_LEVEL;
  for e do export "$e"; done;
  exec "$d/$f";
};
IFS=:; for d in $dirs; do IFS=$o;
  if [ -x "$d/$f" ] && own "$d"; then run "$d" "$@"; fi;
done; IFS=$o;
# Not cached: find a private directory that allows exec.
# probe DIR: a script written there runs.
probe() {
  t="$1/.probe-$$";
  printf "#\041%s\nexit 0\n" "$sh" >"$t" 2>/dev/null && chmod 700 "$t" && "$t" </dev/null >/dev/null 2>&1;
  r=$?; rm -f "$t"; return $r;
};
w=; why=;
IFS=:; for d in $dirs; do IFS=$o;
  if mkdir -p "$d" 2>/dev/null </dev/null; then
    if own "$d"; then
      if probe "$d"; then w=$d; break; fi;
      why="$why, $d: cannot exec files there";
    else why="$why, $d: not private to uid $id"; fi;
  else why="$why, $d: cannot create"; fi;
done; IFS=$o;
if [ -z "$w" ]; then say "err noexec ${why#, }"; exit 4; fi;
# kib DIR: KiB available there, or - when df cannot tell.
kib() { set -- $(df -Pk "$1" 2>/dev/null </dev/null | tail -n 1); printf "%s" "${4:--}"; };
z=; for t in zstd gzip; do if command -v $t >/dev/null 2>&1; then z=$z$t,; fi; done;
y=none; for t in openssl sha256sum shasum sha256 cksum; do
  if command -v $t >/dev/null 2>&1; then y=$t; break; fi;
done;
# "again" instead of the header: another start of the same parent was
# uploading this binary here; it is looked for again, and missed again
# when that upload failed.
while :; do
  say "miss $p ${z}raw $y $(kib "$w") $w";
  read -r v k c n h want || exit 5;
  [ "$v" = again ] || break;
  [ -x "$w/$f" ] && run "$w" "$@";
done;
if [ "$v" = up ] && [ -n "$k" ] && [ "$n" -gt 0 ] 2>/dev/null; then :; else say "err upload bad header"; exit 5; fi;
t="$w/.spindle-$s.$k.tmp";
# recv N: copy exactly N bytes of stdin to stdout, never more. Without
# iflag=fullblock (BSD dd), read in bounded chunks into a file and count.
recv() {
  if dd if=/dev/null of=/dev/null iflag=fullblock 2>/dev/null </dev/null; then
    dd bs="$1" count=1 iflag=fullblock 2>/dev/null;
  else
    : >"$t.in" || return 1; g=0;
    while [ "$g" -lt "$1" ]; do
      q=$(($1 - g)); if [ "$q" -gt 65536 ]; then q=65536; fi;
      dd bs="$q" count=1 2>/dev/null >>"$t.in" || return 1;
      q=$(wc -c <"$t.in"); q=$((q)); if [ "$q" -le "$g" ]; then return 1; fi; g=$q;
    done;
    cat "$t.in"; rm -f "$t.in";
  fi;
};
case $c in zstd) d="zstd -dcq";; gzip) d="gzip -dc";; raw) d=cat;; *) d=false;; esac;
recv "$n" | $d >"$t";
r=$?;
if [ $r -ne 0 ]; then
  q=$(kib "$w"); rm -f "$t" "$t.in";
  say "err write $q $c exit status $r";
  exit 6;
fi;
case $h in
  openssl) v=$(openssl dgst -sha256 -r <"$t");; sha256sum) v=$(sha256sum <"$t");;
  shasum) v=$(shasum -a 256 <"$t");; sha256) v=$(sha256 -q <"$t");;
  cksum) v=$(cksum <"$t");; *) v=;;
esac;
case $h in cksum) ;; *) v=${v%% *};; esac;
if [ -n "$v" ] && [ "$v" = "$want" ]; then :; else
  rm -f "$t"; say "err verify $h $v"; exit 7;
fi;
if chmod 700 "$t" && mv -f "$t" "$w/$f"; then :; else
  rm -f "$t"; say "err install $w/$f"; exit 8;
fi;
run "$w" "$@";
