#!/bin/bash
# bench/wan/latency.sh - add round-trip times to the emulated WAN (after setup.sh; no netem here).
#
# usage: bench/wan/latency.sh [--owd D0,D1,...] [--rtt K:J:MS]... | --off
#   --owd    one-way access delay of each site in ms (the last one repeats): a packet from K to J
#            is held d_K + d_J, so RTT(K,J) = 2 (d_K + d_J).
#   --rtt    the round trip between K and J, MS ms, half in each direction (overrides --owd).
#   --off    stops the delays (packets flow at once again).
# How: in each site's namespace, an iptables chain of ours (NITRODELAY, from INPUT) sends the
# packets from the other sites' addresses to NFQUEUE 0, where bench/wan/delay.c (compiled here with
# cc, libnetfilter-queue-dev) holds each for its link's one-way delay and accepts it. The queue has
# the bypass flag: if the program dies, packets pass undelayed. Only our namespaces are touched.
# The delay sits after the sender's shaper, as propagation after a bottleneck would.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need iptables cc

OWD="" OFF=0
declare -A RTT=()
while (($#)); do
  case $1 in
    --owd) OWD=$2 && shift 2 ;;
    --rtt)
      [[ $2 =~ ^([0-9]+):([0-9]+):([0-9.]+)$ ]] || die "bad --rtt $2 (K:J:MS)"
      RTT["${BASH_REMATCH[1]}:${BASH_REMATCH[2]}"]=${BASH_REMATCH[3]}
      RTT["${BASH_REMATCH[2]}:${BASH_REMATCH[1]}"]=${BASH_REMATCH[3]}
      shift 2
      ;;
    --off) OFF=1 && shift ;;
    *) die "unknown option $1" ;;
  esac
done
SITES=$(wan_sites)

stop_delays() {
  local k pid
  for k in $SITES; do
    if [ -f "$WAN_DIR/delay-s$k.pid" ]; then
      pid=$(cat "$WAN_DIR/delay-s$k.pid")
      kill "$pid" 2>/dev/null
      rm -f "$WAN_DIR/delay-s$k.pid"
    fi
    if wan_exec "$k" iptables -w -L NITRODELAY -n >/dev/null 2>&1; then
      wan_exec "$k" iptables -w -D INPUT -j NITRODELAY
      wan_exec "$k" iptables -w -F NITRODELAY
      wan_exec "$k" iptables -w -X NITRODELAY
    fi
  done
  rm -f "$WAN_DIR/latency.tsv"
}
stop_delays
((OFF)) && { log "delays off" && exit 0; }

DELAY_BIN=$WAN_DIR/delay
if [ ! -x "$DELAY_BIN" ] || [ "$HERE/delay.c" -nt "$DELAY_BIN" ]; then
  [ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ] ||
    die "missing libnetfilter_queue.h (apt-get install -y libnetfilter-queue-dev)"
  cc -O2 -Wall -o "$DELAY_BIN" "$HERE/delay.c" -lnetfilter_queue -lnfnetlink || die "cannot compile delay.c"
fi

nth() {
  local -a a
  IFS=, read -r -a a <<<"$1"
  ((${#a[@]})) || { echo 0 && return; }
  local k=$2
  ((k >= ${#a[@]})) && k=$((${#a[@]} - 1))
  echo "${a[$k]}"
}
# one-way delay in ms of the directed link J -> K
owd() {
  local j=$1 k=$2
  if [ -n "${RTT[$j:$k]:-}" ]; then
    awk -v r="${RTT[$j:$k]}" 'BEGIN{print r/2}'
  else
    awk -v a="$(nth "$OWD" "$j")" -v b="$(nth "$OWD" "$k")" 'BEGIN{print a+b}'
  fi
}

printf 'from\tto\towd_ms\n' >"$WAN_DIR/latency.tsv"
for k in $SITES; do
  args=() addrs=()
  for j in $SITES; do
    ((j == k)) && continue
    d=$(owd "$j" "$k")
    printf '%s\t%s\t%s\n' "$j" "$k" "$d" >>"$WAN_DIR/latency.tsv"
    awk -v d="$d" 'BEGIN{exit !(d>0)}' || continue
    args+=("$(wan_ip "$j")=$d")
    addrs+=("$(wan_ip "$j")")
  done
  ((${#args[@]})) || continue
  # ip netns exec execs the program: $! is the delay process itself
  ip netns exec "$(wan_ns "$k")" "$DELAY_BIN" 0 "${args[@]}" </dev/null >>"$WAN_DIR/delay-s$k.log" 2>&1 &
  echo $! >"$WAN_DIR/delay-s$k.pid"
  # a chain of ours in the site's own INPUT; NFQUEUE through iptables (nft_compat): this kernel
  # has the xtables NFQUEUE target but not nft's queue expression
  wan_exec "$k" iptables -w -N NITRODELAY || die "iptables in site $k (apt-get install -y iptables)"
  for a in "${addrs[@]}"; do
    wan_exec "$k" iptables -w -A NITRODELAY -s "$a" -j NFQUEUE --queue-num 0 --queue-bypass || die "iptables rule in site $k"
  done
  wan_exec "$k" iptables -w -I INPUT -j NITRODELAY || die "iptables jump in site $k"
done
sleep 0.2
for k in $SITES; do
  [ -f "$WAN_DIR/delay-s$k.pid" ] || continue
  kill -0 "$(cat "$WAN_DIR/delay-s$k.pid")" 2>/dev/null || die "delay program of site $k exited (see $WAN_DIR/delay-s$k.log)"
done
log "one-way delays set ($WAN_DIR/latency.tsv)"
