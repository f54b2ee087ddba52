#!/bin/bash
# bench/wan/pull.sh - multi-source `nitro pull` on an emulated 7-site WAN, per strategy and objective.
#
# usage: bench/wan/pull.sh [--strategies LIST] [--image FILE] [--no-single] [--no-server] [--no-floor]
#                          [--runs N] [--tsv FILE]
#   Topology (TOPO below): s0 is the destination; s1..s6 have uneven uplinks (12-240 Mbit/s),
#   round trips to s0 of 6-30 ms (bench/wan/latency.sh: NFQUEUE delays on the receivers) and egress
#   prices that fall with speed. The image (default the dataset's bookworm-lamp.qcow2) is spread
#   over them with overlaps: the fast uplinks hold byte slices of it (FastCDC resynchronises within
#   a chunk of a cut, so a slice holds that part's chunks), the slower ones all of it. Sources are
#   seeded locally (nitro add on their repositories).
#   For each strategy (default optimal,fastest-source,round-robin,random,single-site; objective
#   time) and for optimal with --objective cost: s0 starts from an empty store, pulls with -o, and
#   the output is compared byte for byte. Each source runs `nitro serve --socket` (a site's
#   long-running server, reached through SSH's streamlocal forwarding); one more optimal/time run
#   ("optimal, serve --stdio") is made without them, SSH starting a nitro per session, unless
#   --no-server runs every pull that way. "raw TCP": nc from every source at once (~3 s each) gives
#   the rates the links themselves deliver, and the wire-byte bound at those rates. One more
#   ("optimal, links unshaped") runs with the delays off and every uplink at 10 Gbit/s, then the
#   links are shaped again (--no-floor: not): what this machine's CPUs allow the same pull when the
#   links are no limit. optimal/time runs N times (--runs, default 3; a run of a few seconds varies
#   by ~0.1 s with the machine's load): each run is printed, the median by whole command goes to
#   the TSV. Bytes per source are counted in s0's namespace (nft).
#   "wire LB" = the wire-byte lower bound from bench/wan/bound.ts (stored frame bytes, payload
#   rates, holder sets; independent of the planner). "single source" = `ssh cat` of the file from
#   the fastest site holding all of it. Probed RTTs are printed next to `ping -U`.
# --tsv FILE writes the rows for bench/report. Leaves the WAN up (bench/wan/teardown.sh).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need jq nft cmp ping nc

# site  uplink   rtt_ms  usd_per_gb  holds (full, or a slice START-END in % of the image)
TOPO="
1 240mbit 30 0.090 0-45
2 160mbit 24 0.060 35-80
3 120mbit 18 0.040 full
4 60mbit 12 0.020 70-100
5 30mbit 8 0.010 full
6 12mbit 6 0.005 full
"
STRATS=optimal,fastest-source,round-robin,random,single-site
FULL=/tmp/nitro-dataset/bookworm-lamp.qcow2
SINGLE=1 TSV="" RUNS=3 SERVERS=1 FLOOR=1
while (($#)); do
  case $1 in
    --strategies) STRATS=$2 && shift 2 ;;
    --image) FULL=$2 && shift 2 ;;
    --no-single) SINGLE=0 && shift ;;
    --no-server) SERVERS=0 && shift ;;
    --no-floor) FLOOR=0 && shift ;;
    --runs) RUNS=$2 && shift 2 ;;
    --tsv) TSV=$2 && shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[ -f "$FULL" ] || die "image not found: $FULL (make-dataset.sh first)"
IMAGE=$(basename "$FULL")
IMAGE=${IMAGE%.*}
LOG=$WAN_DIR/pull.log
topo() { awk -v k="$1" -v c="$2" '$1==k {print $c}' <<<"$TOPO"; }
SOURCES=$(awk 'NF {print $1}' <<<"$TOPO")

RATES="1gbit,$(awk 'NF {printf "%s%s", sep, $2; sep=","}' <<<"$TOPO")"
"$HERE/setup.sh" 7 --rates "$RATES" 2>/dev/null || die "setup failed"
LATENCY=(--owd 2)
for j in $SOURCES; do LATENCY+=(--rtt "0:$j:$(topo "$j" 3)"); done
"$HERE/latency.sh" "${LATENCY[@]}" 2>/dev/null || die "latency setup failed"
"$HERE/sshd.sh" start 2>/dev/null || die "sshd start failed"
: >"$LOG"
SO=(-i "$WAN_DIR/client/id_ed25519" --known-hosts "$WAN_DIR/client/known_hosts" --ssh-config "$WAN_DIR/client/ssh_config")

log "seeding s1..s6 with $(basename "$FULL") and slices of it"
SIZE=$(stat -c %s "$FULL")
mkdir -p "$WAN_DIR/slices"
FASTEST_FULL="" BW_FULL=0
for j in $SOURCES; do
  holds=$(topo "$j" 5)
  if [ "$holds" = full ]; then
    nitro --repo "$WAN_DIR/repos/s$j" add "$FULL" --name "$IMAGE" >>"$LOG" 2>&1 || die "seed s$j (see $LOG)"
    bw=$(wan_rate_bits "$(topo "$j" 2)")
    ((bw > BW_FULL)) && FASTEST_FULL=$j BW_FULL=$bw
  else
    IFS=- read -r a b <<<"$holds"
    mib=$((1 << 20))
    skip=$((SIZE * a / 100 / mib)) count=$(((SIZE * b / 100 + mib - 1) / mib - SIZE * a / 100 / mib))
    f=$WAN_DIR/slices/$IMAGE-$a-$b
    dd if="$FULL" of="$f" bs=1M skip="$skip" count="$count" status=none || die "slice $holds"
    nitro --repo "$WAN_DIR/repos/s$j" add "$f" --name "$IMAGE-part" >>"$LOG" 2>&1 || die "seed s$j (see $LOG)"
    rm -f "$f"
  fi
done
[ -n "$FASTEST_FULL" ] || die "no site holds the whole image"

payload() { awk -v b="$(wan_rate_bits "$1")" 'BEGIN{printf "%.0f", b/8*1448/1514}'; }
BOUND_ARGS=()
for j in $SOURCES; do BOUND_ARGS+=("s$j=$(payload "$(topo "$j" 2)"):$WAN_DIR/repos/s$j"); done
(cd "$NITRO_ROOT" && npx vite-node bench/wan/bound.ts "$IMAGE" "$WAN_DIR/repos/s$FASTEST_FULL" "${BOUND_ARGS[@]}") \
  >"$WAN_DIR/bound.json" 2>>"$LOG" || die "bound.ts failed (see $LOG)"
WIRE_LB=$(jq -r .bound "$WAN_DIR/bound.json" | awk '{printf "%.2f", $1}')
WIRE_BYTES=$(jq -r .wireBytes "$WAN_DIR/bound.json")

fresh_dest() {
  rm -rf "$WAN_DIR/repos/s0"
  nitro --repo "$WAN_DIR/repos/s0" init --site s0 >>"$LOG" 2>&1 || return 1
  for j in $SOURCES; do
    wan_nitro 0 site add "s$j" "$(wan_url "$j")" --egress-cost "$(topo "$j" 4)" >>"$LOG" 2>&1 || return 1
  done
  [ -f "$WAN_DIR/matrix.json" ] && { wan_nitro 0 matrix import "$WAN_DIR/matrix.json" >>"$LOG" 2>&1 || return 1; }
  return 0
}
fresh_dest || die "cannot prepare s0 (see $LOG)"
# Each source's long-running `nitro serve --socket`, in its namespace (teardown.sh kills what is left).
start_servers() {
  local j i
  for j in $SOURCES; do
    # not through wan_exec: a function in the background is a subshell, and $! would be its pid
    ip netns exec "$(wan_ns "$j")" "$NITRO_JS" --repo "$WAN_DIR/repos/s$j" serve --socket </dev/null >>"$LOG" 2>&1 &
    echo $! >"$WAN_DIR/serve-s$j.pid"
  done
  for j in $SOURCES; do
    for ((i = 0; i < 100; i++)); do [ -S "$WAN_DIR/repos/s$j/serve.sock" ] && break || sleep 0.1; done
    [ -S "$WAN_DIR/repos/s$j/serve.sock" ] || die "nitro serve --socket of s$j did not start (see $LOG)"
  done
}
stop_servers() {
  local f j
  for f in "$WAN_DIR"/serve-s*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null && rm -f "$f"; done
  wait
  for j in $SOURCES; do [ -S "$WAN_DIR/repos/s$j/serve.sock" ] && die "nitro serve --socket of s$j still running"; done
  return 0
}
((SERVERS)) && start_servers
log "probing s1..s6 from s0"
wan_nitro 0 --json probe --bytes 16M "${SO[@]}" >"$WAN_DIR/probe.json" 2>>"$LOG" || die "probe failed (see $LOG)"
wan_nitro 0 matrix export -o "$WAN_DIR/matrix.json" >>"$LOG" 2>&1 || die "matrix export failed"

echo "== pull $IMAGE ($((SIZE / 1000000)) MB file, wire bytes $(mb "$WIRE_BYTES") MB) at s0 from 6 sites; $(nproc) vCPU, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %9s %8s %6s %10s %10s %10s  %s\n' site uplink "rtt ms" '$/GB' "probe ms" "ping min" "probe Mb/s" holds
for j in $SOURCES; do
  # ping -U: user-to-user time (plain ping stamps replies before the receiver's delay queue); the
  # minimum, as the machine's load adds scheduling delays to single samples
  ping_ms=$(wan_exec 0 ping -U -q -c 10 -i 0.1 "$(wan_ip "$j")" | awk -F'= ' '/^rtt/ {split($2, a, "/"); print a[1]}')
  probe_ms=$(jq -r --arg s "s$j" '.[] | select(.site==$s) | .rtt * 1000 * 10 | round / 10' "$WAN_DIR/probe.json")
  probe_bw=$(jq -r --arg s "s$j" '.[] | select(.site==$s) | .bandwidth * 8 / 1e6 | round' "$WAN_DIR/probe.json")
  printf '%-5s %9s %8s %6s %10s %10s %10s  %s\n' "s$j" "$(topo "$j" 2)" "$(topo "$j" 3)" "$(topo "$j" 4)" \
    "$probe_ms" "$ping_ms" "$probe_bw" "$(topo "$j" 5)"
  [ -n "$TSV" ] && printf 'probe\ts%s\t%s\t%s\t%s\t%s\n' "$j" "$(topo "$j" 3)" "$probe_ms" "$ping_ms" "$probe_bw" >>"$TSV"
done
echo "   wire-byte lower bound $WIRE_LB s (tight set: $(jq -r '.tightSet | join(",")' "$WAN_DIR/bound.json"))"
COPY_SITE=$(jq -r '.smallestCopy.site' "$WAN_DIR/bound.json")
COPY_BYTES=$(jq -r '.smallestCopy.wireBytes' "$WAN_DIR/bound.json")
echo "   it counts each chunk at its cheapest holder's share of a frame: $(mb "$WIRE_BYTES") MB in all; the smallest" \
  "whole copy one site stores is $(mb "$COPY_BYTES") MB ($COPY_SITE)"
[ -n "$TSV" ] && printf 'bytes\t%s\t%s\t%s\n' "$(mb "$WIRE_BYTES")" "$(mb "$COPY_BYTES")" "$COPY_SITE" >>"$TSV"

wan_exec 0 nft -f - <<EOF || die "nft in s0"
table inet nitropull {
  chain in {
    type filter hook input priority 0; policy accept;
$(for j in $SOURCES; do echo "    ip saddr $(wan_ip "$j") counter comment \"s$j\""; done)
  }
}
EOF
wire() { wan_exec 0 nft -j list table inet nitropull | jq -r --arg c "$1" '.nftables[] | .rule? | select(. and .comment==$c) | .expr[] | .counter? | select(.) | .bytes'; }

HDR='%-15s %-9s %7s %7s %9s %8s %8s %8s %8s %8s %9s  %s\n'
# shellcheck disable=SC2059
printf "$HDR" strategy objective "wall s" "pull s" "predict s" "nitro LB" "wire LB" "wall/LB" "pull/LB" "wire MB" "cost \$" "MB per source (s1..s6), identical"
# run_pull STRATEGY OBJECTIVE [LABEL]: the row is named LABEL (default STRATEGY)
run_pull() {
  local s=$1 obj=$2 name=${3:-$1} t0 rc wall tot=0 per="" cost=0 d same=no pull pred lb j trace json
  trace=$WAN_DIR/trace-${name//[^a-z-]/_}-$obj.txt json=$WAN_DIR/pull-${name//[^a-z-]/_}-$obj.json
  fresh_dest || die "cannot reset s0"
  declare -A w0=()
  for j in $SOURCES; do w0[$j]=$(wire "s$j"); done
  rm -f "$WAN_DIR/out.img"
  local busy0 steal0 busy1 steal1
  read -r busy0 steal0 < <(cpu_ticks)
  t0=$(now)
  NITRO_TRACE=1 wan_nitro 0 --json pull "$IMAGE" --strategy "$s" --objective "$obj" -o "$WAN_DIR/out.img" "${SO[@]}" \
    >"$json" 2>"$trace"
  rc=$?
  wall=$(elapsed "$t0" "$(now)")
  read -r busy1 steal1 < <(cpu_ticks)
  grep -v '^nitro-trace ' "$trace" >>"$LOG"
  for j in $SOURCES; do
    d=$(($(wire "s$j") - ${w0[$j]}))
    tot=$((tot + d))
    per="$per $(mb "$d")"
    cost=$(awk -v c="$cost" -v d="$d" -v p="$(topo "$j" 4)" 'BEGIN{printf "%.5f", c + d/1e9*p}')
  done
  ((rc == 0)) && cmp -s "$WAN_DIR/out.img" "$FULL" && same=yes
  read -r pull pred lb pcost ncost stolen < <(jq -r '[.seconds, .predictedMakespan, .lowerBound, .plannedCost, .cost, .stealing.bytes]
    | map(. // "n/a") | .[0:3] |= map(if type=="number" then (.*100|round/100) else . end)
    | .[3:5] |= map(if type=="number" then (.*100000|round/100000) else . end)
    | .[5] |= (if type=="number" then (./1e4|round/100) else . end) | @tsv' \
    "$json" 2>/dev/null || echo "n/a n/a n/a n/a n/a n/a")
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0>0 && b>0) printf "%.2f", a/b; else print "n/a"}'; }
  # shellcheck disable=SC2059
  printf "$HDR" "$name" "$obj" "$wall" "$pull" "$pred" "$lb" "$WIRE_LB" "$(ratio "$wall" "$WIRE_LB")" "$(ratio "$pull" "$WIRE_LB")" \
    "$(mb "$tot")" "$cost" "${per# }, $same (exit $rc); nitro: planned \$$pcost, cost \$$ncost, stolen $stolen MB"
  [ -n "$TSV" ] && printf 'pull\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$obj" "$wall" "$pull" "$pred" "$lb" \
    "$WIRE_LB" "$(mb "$tot")" "$cost" "${per# }" "$same" "$pcost" "$ncost" "$stolen" >>"$TSV"
  phases "$name" "$obj" "$trace" "$wall" "$(ticks_s "$busy0" "$busy1")" "$(ticks_s "$steal0" "$steal1")"
}
# Busy and stolen ticks of the whole machine (every site, sshd and delay program of the bench shares
# its vCPUs; steal is time the hypervisor ran other guests while this one had work).
cpu_ticks() { awk '/^cpu / {print $2+$3+$4+$7+$8, $9; exit}' /proc/stat; }
ticks_s() { awk -v a="$1" -v b="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/hz}'; }

# Where the command's time went, from its NITRO_TRACE milestones (seconds since node started).
phases() {
  local f=$3
  awk -v run="$1/$2" -v wall="$4" -v cpu="$5" -v steal="$6" -v ncpu="$(nproc)" -v lb="$WIRE_LB" -v tsv="$TSV" '
    $1 != "nitro-trace" {next}
    / store open$/ && !store {store=$2}
    / ready$/ {ready=$2}
    /recipe and dest index/ {recipe=$2}
    /plan made/ {plan=$2}
    /first request/ && !first {first=$2}
    /all chunks in/ {last=$2}
    /output done/ {out=$2}
    /replanned:/ {replans++}
    END {
      if (!first || !last) exit
      transfer = last - first
      busy = cpu / (ncpu * wall) * 100
      printf "   %s phases: node + store %.2f s, every site ready %.2f, recipe %.2f, sizes + plan %.2f, first request %.2f; transfer (first request to last chunk) %.2f s = %.2f x wire LB; commit + output %.2f s; exit %.2f s (whole %.2f s); replanned %d times; machine CPU busy %.2f CPU-s, %.0f%% of %d vCPUs, stolen %.2f CPU-s\n", run, store, ready, recipe, plan, first, transfer, transfer / lb, out - last, wall - out, wall, replans, cpu, busy, ncpu, steal
      if (tsv != "") printf "phases\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%d\t%.2f\t%.0f\t%.2f\n", run, store, ready, recipe, plan, first, transfer, out - last, wall - out, wall, replans, cpu, busy, steal >>tsv
    }' "$f"
}
# optimal/time RUNS times: every run printed, the median (by whole command) in the TSV
median_run() {
  local tsv=$TSV i rows=() order
  for ((i = 1; i <= RUNS; i++)); do
    TSV=$WAN_DIR/run-$i.tsv
    : >"$TSV"
    run_pull optimal time
    rows+=("$TSV")
  done
  TSV=$tsv
  order=$(for f in "${rows[@]}"; do awk -F'\t' -v f="$f" '$1=="pull" {print $4, f}' "$f"; done | sort -n)
  echo "optimal/time over $RUNS runs, whole command s: $(awk '{printf "%s%s", sep, $1; sep=" "}' <<<"$order") (median kept)"
  [ -n "$TSV" ] && cat "$(awk -v m=$(((RUNS + 1) / 2)) 'NR==m {print $2}' <<<"$order")" >>"$TSV"
  rm -f "${rows[@]}"
}
for s in ${STRATS//,/ }; do
  if [ "$s" = optimal ] && ((RUNS > 1)); then median_run; else run_pull "$s" time; fi
done
[[ ,$STRATS, == *,optimal,* ]] && run_pull optimal cost
# The links' own rates: raw TCP (nc: no SSH, no nitro, no disk) from every source at once for about
# 3 s, each timed at s0 from its first byte to its last; then the wire-byte bound at those rates.
tcp_row() {
  local tmp j n secs r args=() rates="" bound pids=()
  tmp=$(mktemp -d)
  for j in $SOURCES; do
    (wan_nc_send 0 "$j" "$(awk -v p="$(payload "$(topo "$j" 2)")" 'BEGIN{printf "%.0f", p*3}')" >"$tmp/$j") &
    pids+=($!)
  done
  wait "${pids[@]}" # not the servers this script started
  for j in $SOURCES; do
    read -r n secs _ _ <"$tmp/$j"
    r=$(awk -v n="$n" -v s="$secs" 'BEGIN{if (s > 0) printf "%.0f", n/s}')
    [ -n "$r" ] || { echo "raw TCP: nothing came from s$j" && rm -rf "$tmp" && return; }
    args+=("s$j=$r:$WAN_DIR/repos/s$j")
    rates="$rates${rates:+, }$(awk -v r="$r" -v p="$(payload "$(topo "$j" 2)")" 'BEGIN{printf "%.1f (%.0f%%)", r*8/1e6, r/p*100}')"
  done
  rm -rf "$tmp"
  bound=$(cd "$NITRO_ROOT" && npx vite-node bench/wan/bound.ts "$IMAGE" "$WAN_DIR/repos/s$FASTEST_FULL" "${args[@]}" 2>>"$LOG" | jq -r .bound)
  [[ $bound =~ ^[0-9.]+$ ]] || { echo "raw TCP: bound.ts failed (see $LOG)" && return; }
  bound=$(awk -v b="$bound" 'BEGIN{printf "%.2f", b}')
  echo "   raw TCP from all sources at once (nc; s1..s6, Mbit/s and share of the payload rate): $rates"
  echo "   the wire-byte bound at those rates: $bound s = $(awk -v a="$bound" -v b="$WIRE_LB" 'BEGIN{printf "%.2f", a/b}') x wire LB"
  [ -n "$TSV" ] && printf 'tcp\t%s\t%s\n' "$bound" "$rates" >>"$TSV"
}
[[ ,$STRATS, == *,optimal,* ]] && tcp_row
# uplink J RATE: site J's egress classes (setup.sh's 1:1 and 1:2) at RATE
uplink() {
  local c
  for c in 1:1 1:2; do
    # shellcheck disable=SC2046  # the parameters are words
    wan_exec "$1" tc class change dev eth0 classid "$c" htb $(wan_htb_params "$2") || die "tc class change in s$1"
  done
}
if ((FLOOR)) && [[ ,$STRATS, == *,optimal,* ]]; then
  "$HERE/latency.sh" --off 2>/dev/null || die "cannot stop the delays"
  for j in $SOURCES; do uplink "$j" 10gbit; done
  run_pull optimal time "optimal, links unshaped"
  for j in $SOURCES; do uplink "$j" "$(topo "$j" 2)"; done
  "$HERE/latency.sh" "${LATENCY[@]}" 2>/dev/null || die "latency setup failed"
fi
if ((SERVERS)) && [[ ,$STRATS, == *,optimal,* ]]; then
  stop_servers
  run_pull optimal time "optimal, serve --stdio"
fi
wan_exec 0 nft delete table inet nitropull

if ((SINGLE)); then
  rm -f "$WAN_DIR/out.img"
  t0=$(now)
  wan_ssh 0 "$FASTEST_FULL" "cat '$FULL'" >"$WAN_DIR/out.img" 2>>"$LOG"
  rc=$?
  wall=$(elapsed "$t0" "$(now)")
  same=no
  ((rc == 0)) && cmp -s "$WAN_DIR/out.img" "$FULL" && same=yes
  echo "best single full source: ssh s$FASTEST_FULL cat ($(topo "$FASTEST_FULL" 2)): $wall s, identical $same"
  [ -n "$TSV" ] && printf 'single\ts%s\t%s\t%s\t%s\n' "$FASTEST_FULL" "$(topo "$FASTEST_FULL" 2)" "$wall" "$same" >>"$TSV"
fi
rm -f "$WAN_DIR/out.img"
echo "log: $LOG; JSON: $WAN_DIR/pull-*.json, $WAN_DIR/bound.json, $WAN_DIR/probe.json. pull s = nitro's"
echo "own transfer time; wall s = the whole command (start to verified output file); cost \$ = wire"
echo "bytes per source x its egress price; nitro LB = the planner's own bound; planned/cost/stolen: nitro's"
echo "own report (plannedCost, cost, stealing.bytes)."
