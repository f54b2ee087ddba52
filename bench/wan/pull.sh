#!/bin/bash
# bench/wan/pull.sh - multi-source `nitro pull` on an emulated WAN, per planning strategy.
#
# usage: bench/wan/pull.sh [--rates R0,R1,...] [--strategies LIST] [--full IMG] [--part IMG]
#   Sites s0..s3 (setup.sh 4 --rates R0,...; default 100mbit,50mbit,20mbit,80mbit). s0 is the
#   destination; s1 and s2 hold the whole image --full (default the dataset's bookworm-lamp.qcow2),
#   s3 holds only --part (default bookworm-base.qcow2: the part of --full it shares). The sources
#   are seeded locally (nitro add on their repositories), s0 probes them once (`nitro probe`), and
#   for each strategy (default optimal,fastest-source,round-robin,random,single-site) s0 starts
#   from an empty store with that matrix, pulls with -o and the output is compared byte for byte.
# Bytes per source are counted on the wire by nftables in s0's namespace (IP bytes from each
# source address). "capacity bound" = all wire bits / sum of the sources' shaped rates: no plan
# can beat it, and it is reachable only when every source can send its share (s3 holds less).
# "optimum" = the fractional optimum of this scenario that accounts for what s3 holds (below).
# Leaves the WAN up (bench/wan/teardown.sh removes it).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need jq nft cmp

RATES=100mbit,50mbit,20mbit,80mbit
STRATS=optimal,fastest-source,round-robin,random,single-site
FULL=/tmp/nitro-dataset/bookworm-lamp.qcow2
PART=/tmp/nitro-dataset/bookworm-base.qcow2
while (($#)); do
  case $1 in
    --rates) RATES=$2 && shift 2 ;;
    --strategies) STRATS=$2 && shift 2 ;;
    --full) FULL=$2 && shift 2 ;;
    --part) PART=$2 && shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[ -f "$FULL" ] && [ -f "$PART" ] || die "images not found: $FULL $PART (make-dataset.sh first)"
IMAGE=$(basename "$FULL")
IMAGE=${IMAGE%.*}
LOG=$WAN_DIR/pull.log

"$HERE/setup.sh" 4 --rates "$RATES" 2>/dev/null || die "setup failed"
"$HERE/sshd.sh" start 2>/dev/null || die "sshd start failed"
: >"$LOG"
SO=(-i "$WAN_DIR/client/id_ed25519" --known-hosts "$WAN_DIR/client/known_hosts" --ssh-config "$WAN_DIR/client/ssh_config")

log "seeding: s1, s2 <- $(basename "$FULL"); s3 <- $(basename "$PART")"
for k in 1 2; do nitro --repo "$WAN_DIR/repos/s$k" add "$FULL" --name "$IMAGE" >>"$LOG" 2>&1 || die "seed s$k (see $LOG)"; done
nitro --repo "$WAN_DIR/repos/s3" add "$PART" >>"$LOG" 2>&1 || die "seed s3 (see $LOG)"

# the fractional optimum of this scenario, from stored (compressed) bytes: B = stored bytes of the
# chunks --full shares with --part (held by s1, s2, s3), the rest (held by s1, s2 only) is
# S_full - B; at payload rates r (shaped x 1448/1514, TCP/IP/Ethernet headers) the best makespan
# is max((S_full - B) / (r1 + r2), S_full / (r1 + r2 + r3)).
stored_of() { nitro --repo "$1" --json stats | jq -r .storedBytes; }
rm -rf "$WAN_DIR/union"
nitro --repo "$WAN_DIR/union" init >>"$LOG" 2>&1 && nitro --repo "$WAN_DIR/union" add "$PART" >>"$LOG" 2>&1 &&
  nitro --repo "$WAN_DIR/union" add "$FULL" >>"$LOG" 2>&1 || die "union store (see $LOG)"
S_FULL=$(stored_of "$WAN_DIR/repos/s1")
S_PART=$(stored_of "$WAN_DIR/repos/s3")
S_UNION=$(stored_of "$WAN_DIR/union")
rm -rf "$WAN_DIR/union"
SHARED=$((S_FULL + S_PART - S_UNION))
payload() { awk -v b="$(wan_rate_bits "$(wan_field "$1" 4)")" 'BEGIN{printf "%.0f", b/8*1448/1514}'; }
OPT=$(awk -v f="$S_FULL" -v sh="$SHARED" -v r1="$(payload 1)" -v r2="$(payload 2)" -v r3="$(payload 3)" \
  'BEGIN{a=(f-sh)/(r1+r2); b=f/(r1+r2+r3); printf "%.2f", (a>b)?a:b}')

fresh_dest() {
  rm -rf "$WAN_DIR/repos/s0"
  nitro --repo "$WAN_DIR/repos/s0" init --site s0 >>"$LOG" 2>&1 || return 1
  for j in 1 2 3; do wan_nitro 0 site add "s$j" "$(wan_url "$j")" >>"$LOG" 2>&1 || return 1; done
  [ -f "$WAN_DIR/matrix.json" ] && { wan_nitro 0 matrix import "$WAN_DIR/matrix.json" >>"$LOG" 2>&1 || return 1; }
  return 0
}
fresh_dest || die "cannot prepare s0 (see $LOG)"
log "probing s1..s3 from s0"
wan_nitro 0 probe --bytes 16M "${SO[@]}" >>"$LOG" 2>&1 || die "probe failed (see $LOG)"
wan_nitro 0 matrix export -o "$WAN_DIR/matrix.json" >>"$LOG" 2>&1 ||
  wan_nitro 0 --json matrix export >"$WAN_DIR/matrix.json" 2>>"$LOG" || die "matrix export failed"

# per-source wire counters in s0's namespace (our own table there)
wan_exec 0 nft -f - <<EOF || die "nft in s0"
table inet nitropull {
  chain in {
    type filter hook input priority 0; policy accept;
$(for j in 1 2 3; do echo "    ip saddr $(wan_ip "$j") counter comment \"s$j\""; done)
  }
}
EOF
wire() { wan_exec 0 nft -j list table inet nitropull | jq -r --arg c "$1" '.nftables[] | .rule? | select(. and .comment==$c) | .expr[] | .counter? | select(.) | .bytes'; }
cap_bits=0
for j in 1 2 3; do cap_bits=$((cap_bits + $(wan_rate_bits "$(wan_field "$j" 4)"))); done

echo "== pull $IMAGE at s0 from s1 ($(wan_field 1 4)), s2 ($(wan_field 2 4)), s3 ($(wan_field 3 4), partial); $(nproc) vCPU, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   stored bytes: $IMAGE $S_FULL, shared with s3's image $SHARED; fractional optimum $OPT s"
echo "   matrix (probed): $(jq -c '.' "$WAN_DIR/matrix.json" 2>/dev/null | head -c 400)"
HDR='%-15s %7s %7s %9s %9s %9s %8s %10s %8s  %s\n'
# shellcheck disable=SC2059
printf "$HDR" strategy "wall s" "pull s" "predict s" "nitro LB" "cap bound" "optimum" "wire MB" "pull/opt" "wire MB per source (s1 s2 s3), identical"
for s in ${STRATS//,/ }; do
  fresh_dest || die "cannot reset s0"
  declare -A w0=()
  for j in 1 2 3; do w0[$j]=$(wire "s$j"); done
  rm -f "$WAN_DIR/out.img"
  t0=$(now)
  wan_nitro 0 --json pull "$IMAGE" --strategy "$s" -o "$WAN_DIR/out.img" "${SO[@]}" >"$WAN_DIR/pull-$s.json" 2>>"$LOG"
  rc=$?
  wall=$(elapsed "$t0" "$(now)")
  tot=0 per=""
  for j in 1 2 3; do
    d=$(($(wire "s$j") - ${w0[$j]}))
    tot=$((tot + d))
    per="$per $(mb "$d")"
  done
  same=no
  ((rc == 0)) && cmp -s "$WAN_DIR/out.img" "$FULL" && same=yes
  read -r pull pred lb < <(jq -r '[.seconds, .predictedMakespan, .lowerBound] | map(. // "n/a" | if type=="number" then (.*100|round/100) else . end) | @tsv' "$WAN_DIR/pull-$s.json" 2>/dev/null || echo "n/a n/a n/a")
  bound=$(awk -v b="$tot" -v c="$cap_bits" 'BEGIN{printf "%.2f", b*8/c}')
  # shellcheck disable=SC2059
  printf "$HDR" "$s" "$wall" "$pull" "$pred" "$lb" "$bound" "$OPT" "$(mb "$tot")" \
    "$(awk -v a="$pull" -v b="$OPT" 'BEGIN{ if (a+0>0 && b>0) printf "%.2f", a/b; else print "n/a"}')" "${per# }, $same (exit $rc)"
done
wan_exec 0 nft delete table inet nitropull
echo "log: $LOG; JSON summaries: $WAN_DIR/pull-*.json. pull s = nitro's own transfer time; wall s adds"
echo "process start, connections and the output file. cap bound = wire bits / sum of source rates;"
echo "optimum = fractional optimum from stored bytes and payload rates (see the script's comments)."
