# Spindle SSH bootstrap, upload (docs/bootstrap.md). Run by the remote
# login shell, with the binary on stdin, as:
#   exec SHELL -c SCRIPT SHELL DIR SHA256 CODEC TOOL WANT TOKEN
# CODEC  zstd, gzip or raw: how stdin is encoded
# TOOL   the digest tool the stage-1 script found; WANT is its expected
#        output (a SHA-256 in hex, or "CRC SIZE" for cksum)
# TOKEN  random, so that concurrent uploads never share a temporary file
# A failed write reports the free space with the partial file still in
# place (near zero when the disk filled up).
# It writes DIR/.spindle-SHA256.TOKEN.tmp, checks it, and renames it to
# DIR/spindle-SHA256 (atomic: a concurrent bootstrap sees the whole file
# or none). It answers with one line "SPINDLE-UP/1 ok PATH" or
# "SPINDLE-UP/1 err CODE DETAIL...". Same line rules as bootstrap.sh.
set -f;
umask 077;
m=SPINDLE-UP/1;
d=$1; s=$2; c=$3; h=$4; want=$5;
t="$d/.spindle-$s.$6.tmp"; f="$d/spindle-$s";
case $c in
  zstd) zstd -dc >"$t";; gzip) gzip -dc >"$t";; raw) cat >"$t";; *) false;;
esac;
r=$?;
if [ $r -ne 0 ]; then
  set -- $(df -Pk "$d" 2>/dev/null </dev/null | tail -n 1);
  rm -f "$t";
  printf "%s\n" "$m err write ${4:--} $c exit status $r";
  exit 4;
fi;
case $h in
  openssl) v=$(openssl dgst -sha256 -r <"$t");; sha256sum) v=$(sha256sum <"$t");;
  shasum) v=$(shasum -a 256 <"$t");; sha256) v=$(sha256 -q <"$t");;
  cksum) v=$(cksum <"$t");; *) v=;;
esac;
case $h in cksum) ;; *) v=${v%% *};; esac;
if [ -n "$v" ] && [ "$v" = "$want" ]; then :; else
  rm -f "$t"; printf "%s\n" "$m err verify $h $v"; exit 5;
fi;
if chmod 700 "$t" && mv -f "$t" "$f"; then :; else
  rm -f "$t"; printf "%s\n" "$m err install $f"; exit 6;
fi;
printf "%s\n" "$m ok $f";
