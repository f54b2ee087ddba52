#!/bin/bash
# bench/wan/push.sh - first push of one image over shaped links, next to `ssh cat` on the same link.
#
# usage: bench/wan/push.sh [--rates R,R,...] [--image IMG] [--repeat N]
#   For each rate (default 1gbit,200mbit): two sites (setup.sh 2 --rates RATE: s0's upload is
#   shaped), then, from s0 to s1, best of N (default 2) runs of
#     ssh-cat     ssh s1 'cat > /dev/null' < IMG      (the link's ceiling for the raw image)
#     nitro-push  nitro push IMAGE --to s1, IMAGE added at s0 beforehand (untimed), s1 empty
# bench/push.sh measures the same over loopback, where the link is faster than both ends' CPUs;
# here the link is the limit, as between sites. Leaves the WAN up (teardown.sh removes it).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need /usr/bin/time

RATES=1gbit,200mbit
IMG=/tmp/nitro-dataset/bookworm-lamp.qcow2
REPEAT=2
while (($#)); do
  case $1 in
    --rates) RATES=$2 && shift 2 ;;
    --image) IMG=$2 && shift 2 ;;
    --repeat) REPEAT=$2 && shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[ -f "$IMG" ] || die "image not found: $IMG (make-dataset.sh first)"
NAME=$(basename "$IMG")
NAME=${NAME%.*}
LOG=$WAN_DIR/push.log
SO=(-i "$WAN_DIR/client/id_ed25519" --known-hosts "$WAN_DIR/client/known_hosts" --ssh-config "$WAN_DIR/client/ssh_config")

best_of() { # CMD...: prints the shortest wall time of REPEAT runs, or "failed"
  local best="" t0 t i
  for ((i = 0; i < REPEAT; i++)); do
    [ "$1" = nitro-push ] && { fresh_target || return; }
    t0=$(now)
    "$@" >>"$LOG" 2>&1 || {
      echo failed
      return
    }
    t=$(elapsed "$t0" "$(now)")
    best=$(awk -v a="$best" -v b="$t" 'BEGIN{print (a == "" || b < a) ? b : a}')
  done
  echo "$best"
}
fresh_target() {
  rm -rf "$WAN_DIR/repos/s1"
  nitro --repo "$WAN_DIR/repos/s1" init --site s1 >>"$LOG" 2>&1
}
ssh-cat() { wan_ssh 0 1 'cat > /dev/null' <"$IMG"; }
nitro-push() { wan_nitro 0 push "$NAME" --to s1 -q "${SO[@]}"; }

: >"$LOG"
SIZE=$(stat -c %s "$IMG")
printf '%-9s %-11s %8s %9s %12s\n' rate row seconds "MB/s img" "vs ssh cat"
for rate in ${RATES//,/ }; do
  "$HERE/setup.sh" 2 --rates "$rate,-" >>"$LOG" 2>&1 || die "setup failed (see $LOG)"
  "$HERE/sshd.sh" start >>"$LOG" 2>&1 || die "sshd start failed (see $LOG)"
  rm -rf "$WAN_DIR/repos/s0"
  nitro --repo "$WAN_DIR/repos/s0" init --site s0 >>"$LOG" 2>&1 &&
    nitro --repo "$WAN_DIR/repos/s0" add "$IMG" --name "$NAME" >>"$LOG" 2>&1 &&
    wan_nitro 0 site add s1 "$(wan_url 1)" >>"$LOG" 2>&1 || die "cannot prepare s0 (see $LOG)"
  cat "$IMG" >/dev/null
  base=$(best_of ssh-cat)
  for row in ssh-cat nitro-push; do
    t=$base
    [ "$row" = nitro-push ] && t=$(best_of nitro-push)
    if [ "$t" = failed ]; then
      printf '%-9s %-11s %8s\n' "$rate" "$row" "failed (see $LOG)"
      continue
    fi
    printf '%-9s %-11s %8.2f %9.0f %11.2fx\n' "$rate" "$row" "$t" \
      "$(awk -v s="$SIZE" -v t="$t" 'BEGIN{print s/t/1e6}')" "$(awk -v a="$base" -v t="$t" 'BEGIN{print a/t}')"
  done
done
echo "image $(basename "$IMG"), $(mb "$SIZE") MB; s0's upload shaped with HTB; best of $REPEAT; $(nproc) vCPU,"
echo "load $(cut -d' ' -f1-3 /proc/loadavg). 'vs ssh cat' > 1 means the image arrived sooner. log: $LOG"
