#!/bin/bash
# bench/wan/measure.sh - check that the emulated links deliver their shaped rates.
#
# usage: bench/wan/measure.sh [--dest K] [--seconds S] [--no-nc] [--no-concurrent]
#   For every source J != K: bytes sent J -> K measured at K from the first byte received to the
#   last (so handshakes do not count), sized to last about S seconds (default 4) at the shaped
#   rate. Three ways: raw TCP (nc), OpenSSH (`ssh sJ 'head -c B /dev/zero'`, aes128-gcm, what
#   nitro's transport adds) one source at a time, and OpenSSH from all sources at once (what a
#   multi-source pull does). Needs setup.sh and sshd.sh start first.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need nc awk

DEST=0 SECS=4 NC=1 CONC=1
while (($#)); do
  case $1 in
    --dest) DEST=$2 && shift 2 ;;
    --seconds) SECS=$2 && shift 2 ;;
    --no-nc) NC=0 && shift ;;
    --no-concurrent) CONC=0 && shift ;;
    *) die "unknown option $1" ;;
  esac
done
[ -n "$(wan_ns "$DEST")" ] || die "no site $DEST"

rate_bits() { wan_rate_bits "$@"; }
# shaped rate J -> K in bit/s: min(J's egress, pair J:K, K's ingress); empty when unshaped
shaped() {
  local j=$1 k=$2 r best=""
  for r in "$(rate_bits "$(wan_field "$j" 4)")" "$(rate_bits "$(wan_field "$k" 5)")" \
    "$(rate_bits "$(awk -F'\t' -v j="$j" -v k="$k" '$1==j && $2==k {print $3}' "$WAN_DIR/pairs.tsv" 2>/dev/null)")"; do
    [ -n "$r" ] && { [ -z "$best" ] || ((r < best)); } && best=$r
  done
  echo "$best"
}
mbit() { awk -v b="$1" -v s="$2" 'BEGIN{ if (s>0) printf "%.1f", b*8/s/1e6; else print "n/a"}'; }
size_for() { # bytes for about SECS seconds at the shaped rate (200 MB when unshaped)
  local r
  r=$(shaped "$1" "$DEST")
  if [ -n "$r" ]; then awk -v r="$r" -v s="$SECS" 'BEGIN{printf "%.0f", r/8*s}'; else echo 200000000; fi
}

echo "== measured rates to site $DEST ($(wan_ip "$DEST")), Mbit/s = payload bits / s from first byte"
printf '%-8s %12s %10s %10s %8s %12s %8s\n' "link" "shaped Mb/s" "bytes" "nc Mb/s" "nc/shp" "ssh Mb/s" "ssh/shp"
for j in $(wan_sites); do
  ((j == DEST)) && continue
  b=$(size_for "$j")
  r=$(shaped "$j" "$DEST")
  rs=$([ -n "$r" ] && awk -v r="$r" 'BEGIN{printf "%.1f", r/1e6}' || echo unshaped)
  ncr=n/a ncq=n/a
  if ((NC)); then
    read -r n s _ _ < <(wan_nc_send "$DEST" "$j" "$b")
    ncr=$(mbit "$n" "$s")
    [ -n "$r" ] && ncq=$(awk -v m="$ncr" -v r="$r" 'BEGIN{printf "%.2f", m*1e6/r}')
  fi
  read -r n s < <(wan_ssh "$DEST" "$j" "head -c $b /dev/zero" | recv_rate)
  sr=$(mbit "$n" "$s")
  srq=n/a
  [ -n "$r" ] && srq=$(awk -v m="$sr" -v r="$r" 'BEGIN{printf "%.2f", m*1e6/r}')
  printf '%-8s %12s %10s %10s %8s %12s %8s\n' "s$j->s$DEST" "$rs" "$b" "$ncr" "$ncq" "$sr" "$srq"
done

if ((CONC)); then
  echo "== all sources at once over ssh"
  tmp=$(mktemp -d)
  for j in $(wan_sites); do
    ((j == DEST)) && continue
    (wan_ssh "$DEST" "$j" "head -c $(size_for "$j") /dev/zero" | recv_rate >"$tmp/$j") &
  done
  wait
  printf '%-8s %12s %12s %8s\n' link "shaped Mb/s" "ssh Mb/s" "ssh/shp"
  sum_shaped=0
  for j in $(wan_sites); do
    ((j == DEST)) && continue
    read -r n s _ _ <"$tmp/$j"
    r=$(shaped "$j" "$DEST")
    m=$(mbit "$n" "$s")
    printf '%-8s %12s %12s %8s\n' "s$j->s$DEST" "$([ -n "$r" ] && awk -v r="$r" 'BEGIN{printf "%.1f", r/1e6}' || echo unshaped)" \
      "$m" "$([ -n "$r" ] && awk -v m="$m" -v r="$r" 'BEGIN{printf "%.2f", m*1e6/r}' || echo n/a)"
    [ -n "$r" ] && [ -n "$sum_shaped" ] && sum_shaped=$((sum_shaped + r)) || sum_shaped=""
  done
  # aggregate: all bytes over [first byte of any flow, last byte of any flow], against
  # min(sum of the links' rates, the destination's ingress rate)
  cap=$sum_shaped
  in=$(rate_bits "$(wan_field "$DEST" 5)")
  [ -n "$in" ] && { [ -z "$cap" ] || ((in < cap)); } && cap=$in
  cat "$tmp"/* | awk -v cap="$cap" '{n+=$1; if (!t0 || $3<t0) t0=$3; if ($4>t1) t1=$4}
    END{m=n*8/(t1-t0)/1e6; printf "%-8s %12s %12.1f %8s\n", "all->s'"$DEST"'", cap ? sprintf("%.1f", cap/1e6) : "unshaped", m, cap ? sprintf("%.2f", m*1e6/cap) : "n/a"}'
  rm -rf "$tmp"
fi
