#!/bin/bash
# bench/wan/replicate.sh - one origin, six targets, the origin's uplink the thinnest link:
# `nitro replicate` (targets relay) against pushes from the origin and rsync.
#
# usage: bench/wan/replicate.sh [--origin-rate R] [--rate R] [--size MIB] [--rows LIST] [--owd D0,D]
#   Seven sites (setup.sh 7): s0 the origin, its upload shaped to --origin-rate (default 20mbit),
#   s1..s6 the targets, theirs to --rate (default 100mbit). The image is --size MiB (default 32)
#   of random bytes, added at s0 beforehand. Links get latency (latency.sh --owd, default 10,5 ms
#   one way per site: RTT 30 ms from s0, 20 ms between targets; 0 for none). For each row the
#   targets start empty:
#     replicate  nitro replicate IMAGE --to s1,...,s6 run at s0 (after `site sync`, untimed)
#     push-all   nitro push IMAGE --to s1,...,s6 (the origin feeds all six at once)
#     push-seq   nitro push IMAGE --to sJ, one target after another
#     rsync-all  rsync from s0 to the six targets at once (when rsync is installed)
#   Figures: seconds until the last target has the image, the origin's egress (IP bytes out of
#   s0's eth0, from its counters) and all sites' egress, their cost at --cost-origin and
#   --cost-site USD per GB (default 0.09 and 0.02). Leaves the WAN up (teardown.sh removes it).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need ip tc

ORIGIN_RATE=20mbit RATE=100mbit SIZE_MIB=32 ROWS=replicate,push-all,push-seq,rsync-all
# One-way access delay per site in ms (s0, then the targets): RTT s0-sJ 30 ms, sJ-sK 20 ms.
OWD=10,5
COST_ORIGIN=0.09 COST_SITE=0.02
while (($#)); do
  case $1 in
    --origin-rate) ORIGIN_RATE=$2 && shift 2 ;;
    --rate) RATE=$2 && shift 2 ;;
    --size) SIZE_MIB=$2 && shift 2 ;;
    --owd) OWD=$2 && shift 2 ;;
    --rows) ROWS=$2 && shift 2 ;;
    --cost-origin) COST_ORIGIN=$2 && shift 2 ;;
    --cost-site) COST_SITE=$2 && shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
mkdir -p "$WAN_DIR"
LOG=$WAN_DIR/replicate.log
TARGETS=(1 2 3 4 5 6)
TO=$(printf 's%s,' "${TARGETS[@]}")
TO=${TO%,}

"$HERE/setup.sh" 7 --rates "$ORIGIN_RATE,$RATE" >"$LOG" 2>&1 || die "setup failed (see $LOG)"
"$HERE/sshd.sh" start >>"$LOG" 2>&1 || die "sshd start failed (see $LOG)"
[ "$OWD" = 0 ] || "$HERE/latency.sh" --owd "$OWD" >>"$LOG" 2>&1 || die "latency failed (see $LOG)"
IMG=$WAN_DIR/replicate-image.raw
head -c $((SIZE_MIB << 20)) /dev/urandom >"$IMG"
# The nitro run at each site over SSH uses the client's HOME: its ssh_config reaches every site.
REMOTE="env HOME=$WAN_DIR/client/home nitro"
rm -rf "$WAN_DIR/repos/s0"
nitro --repo "$WAN_DIR/repos/s0" init --site s0 >>"$LOG" 2>&1 &&
  nitro --repo "$WAN_DIR/repos/s0" add "$IMG" --name img >>"$LOG" 2>&1 || die "cannot prepare s0 (see $LOG)"
for j in 0 "${TARGETS[@]}"; do
  wan_nitro 0 site add "s$j" "$(wan_url "$j")" --remote-command "$REMOTE" >>"$LOG" 2>&1 || die "site add s$j (see $LOG)"
done
# What the planner should know: the origin's thin uplink, the targets' wider ones.
for j in "${TARGETS[@]}"; do
  wan_nitro 0 matrix set s0 "s$j" --bandwidth "$ORIGIN_RATE" >>"$LOG" 2>&1
  for k in "${TARGETS[@]}"; do
    [ "$k" = "$j" ] || wan_nitro 0 matrix set "s$k" "s$j" --bandwidth "$RATE" >>"$LOG" 2>&1
  done
done

fresh_targets() {
  for j in "${TARGETS[@]}"; do
    rm -rf "$WAN_DIR/repos/s$j"
    nitro --repo "$WAN_DIR/repos/s$j" init --site "s$j" >>"$LOG" 2>&1 || return 1
  done
}
tx_bytes() { wan_exec "$1" cat /sys/class/net/eth0/statistics/tx_bytes; }
all_tx() { for k in 0 "${TARGETS[@]}"; do tx_bytes "$k"; done | paste -sd' '; }

replicate() { wan_nitro 0 replicate img --to "$TO"; }
push-all() { wan_nitro 0 push img --to "$TO" -q; }
push-seq() { for j in "${TARGETS[@]}"; do wan_nitro 0 push img --to "s$j" -q || return; done; }
rsync-all() {
  local j pids=()
  for j in "${TARGETS[@]}"; do
    wan_exec 0 rsync -a -e "ssh -F $WAN_DIR/client/ssh_config" "$IMG" "s$j:$WAN_DIR/repos/s$j/rsync.raw" &
    pids+=($!)
  done
  for j in "${pids[@]}"; do wait "$j" || return; done
}

IMAGE_BYTES=$(stat -c %s "$IMG")
printf '%-10s %8s %14s %14s %10s\n' row seconds "origin out MB" "all out MB" "cost USD"
for row in ${ROWS//,/ }; do
  if [ "$row" = rsync-all ] && ! command -v rsync >/dev/null; then
    printf '%-10s %8s\n' "$row" "skipped (no rsync)"
    continue
  fi
  fresh_targets || die "cannot reset the targets (see $LOG)"
  if [ "$row" = replicate ]; then wan_nitro 0 site sync >>"$LOG" 2>&1 || die "site sync failed (see $LOG)"; fi
  read -ra before <<<"$(all_tx)"
  t0=$(now)
  if ! "$row" >>"$LOG" 2>&1; then
    printf '%-10s %8s\n' "$row" "failed (see $LOG)"
    continue
  fi
  t=$(elapsed "$t0" "$(now)")
  read -ra after <<<"$(all_tx)"
  origin=$((after[0] - before[0]))
  total=0
  for i in "${!after[@]}"; do total=$((total + after[i] - before[i])); done
  cost=$(awk -v o="$origin" -v a="$total" -v co="$COST_ORIGIN" -v cs="$COST_SITE" \
    'BEGIN{printf "%.5f", o/1e9*co + (a-o)/1e9*cs}')
  printf '%-10s %8.2f %14s %14s %10s\n' "$row" "$t" "$(mb "$origin")" "$(mb "$total")" "$cost"
done
echo "image ${SIZE_MIB} MiB random ($(mb "$IMAGE_BYTES") MB); s0 upload $ORIGIN_RATE, s1..s6 $RATE; $(nproc) vCPU,"
echo "load $(cut -d' ' -f1-3 /proc/loadavg). log: $LOG"
