#!/bin/bash
# bench/wan/setup.sh - emulate N sites with network namespaces and shaped links.
#
# usage: bench/wan/setup.sh N [--rates R0,R1,...] [--down-rates R0,R1,...] [--pair K:J:RATE]...
#                             [--subnet 10.77.0] [--queue-ms 50]
#   N             number of sites: namespaces nitro-s0..nitro-s(N-1), each with eth0 on a bridge
#                 (br0) that lives in a namespace of its own (nitro-hub): the host's namespace gets
#                 no interface, no address and no route.
#   --rates       egress (upload) rate of each site, tc units (100mbit, 20mbit, 1gbit...); the last
#                 one repeats for the remaining sites; omitted or "-" = unshaped. HTB on eth0.
#   --down-rates  ingress (download) rate of each site, shaped on the hub side of its veth.
#   --pair K:J:RATE  directed rate from site K to site J (an HTB class under K's egress rate, so
#                 the site's rate still caps the sum). Repeatable. Makes an asymmetric matrix.
#   --subnet      first three octets of the private /24 (default 10.77.0; site K gets .K+1).
#   --queue-ms    depth of each shaped link's FIFO in ms at its rate (default 50).
# State (site table) goes to $WAN_DIR/sites.tsv (default /tmp/nitro-wan). Re-running tears the
# previous emulation down first. No netem on this kernel: links have bandwidth, not latency.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need ip tc

N=${1:-}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 1 && N <= 200)) || die "usage: setup.sh N [--rates R0,R1,...] [--down-rates ...] [--pair K:J:RATE]..."
shift
RATES="" DOWN="" SUBNET=10.77.0 QUEUE_MS=50 BURST_MS=${BURST_MS:-2}
declare -a PAIRS=()
while (($#)); do
  case $1 in
    --rates) RATES=$2 && shift 2 ;;
    --down-rates) DOWN=$2 && shift 2 ;;
    --pair) PAIRS+=("$2") && shift 2 ;;
    --subnet) SUBNET=$2 && shift 2 ;;
    --queue-ms) QUEUE_MS=$2 && shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
# nth_rate LIST K: K-th element of a comma list, the last one repeating; "" when LIST is empty
nth_rate() {
  local -a a
  IFS=, read -r -a a <<<"$1"
  ((${#a[@]})) || return 0
  local k=$2
  ((k >= ${#a[@]})) && k=$((${#a[@]} - 1))
  case ${a[$k]} in -| none | unshaped) ;; *) echo "${a[$k]}" ;; esac
}
valid_rate() { [[ -z $1 || $1 =~ ^[0-9.]+([kmg]?(bit|bps))$ ]] || die "bad rate '$1' (e.g. 100mbit)"; }

"$HERE/teardown.sh" >/dev/null 2>&1
mkdir -p "$WAN_DIR/repos"
ip netns add "$WAN_HUB" || die "cannot create namespace $WAN_HUB (root needed)"
ip -n "$WAN_HUB" link set lo up
ip -n "$WAN_HUB" link add br0 type bridge
ip -n "$WAN_HUB" link set br0 up

# leaf DEV NS CLASS RATE: a byte-limited FIFO under an HTB class, QUEUE_MS deep at RATE (at least
# 3 x 64 KiB GSO packets). The default leaf (pfifo, 1000 packets of up to 64 KiB) would queue
# seconds of data: the RTT would balloon and window-limited transports (ssh channels) would crawl.
# This kernel has no fq_codel/sfq.
leaf() {
  local dev=$1 ns=$2 cls=$3 rate=$4 limit
  limit=$(awk -v b="$(wan_rate_bits "$rate")" -v ms="$QUEUE_MS" 'BEGIN{l=b/8*ms/1000; if (l<196608) l=196608; printf "%.0f", l}')
  ip netns exec "$ns" tc qdisc add dev "$dev" parent "$cls" bfifo limit "$limit"
}
# htb_root DEV NS RATE: one HTB tree on DEV in NS, all traffic in class 1:2 (under 1:1) at RATE
# unless a --pair class (1:1xx, also under 1:1) matches its destination.
htb_root() {
  local dev=$1 ns=$2 rate=$3
  ip netns exec "$ns" tc qdisc replace dev "$dev" root handle 1: htb default 2
  htb_class "$dev" "$ns" 1: 1:1 "$rate"
  htb_class "$dev" "$ns" 1:1 1:2 "$rate"
  leaf "$dev" "$ns" 1:2 "$rate"
}
# htb_class DEV NS PARENT CLASSID RATE, with bursts of BURST_MS at the rate (wan_htb_params).
htb_class() {
  local dev=$1 ns=$2 parent=$3 cls=$4 rate=$5
  # shellcheck disable=SC2046  # the parameters are words
  ip netns exec "$ns" tc class add dev "$dev" parent "$parent" classid "$cls" htb $(wan_htb_params "$rate" "$BURST_MS")
}

printf 'site\tns\tip\tegress\tingress\n' >"$WAN_DIR/sites.tsv"
for ((k = 0; k < N; k++)); do
  ns=$WAN_PREFIX-s$k
  ipk=$SUBNET.$((k + 1))
  up=$(nth_rate "$RATES" $k)
  down=$(nth_rate "$DOWN" $k)
  valid_rate "$up"
  valid_rate "$down"
  ip netns add "$ns" || die "cannot create namespace $ns"
  ip -n "$ns" link set lo up
  # veth pair created straight into its two namespaces: h<k> on the bridge, eth0 in the site
  ip link add "h$k" netns "$WAN_HUB" type veth peer name eth0 netns "$ns" || die "veth for site $k"
  ip -n "$WAN_HUB" link set "h$k" master br0 up
  ip -n "$ns" addr add "$ipk/24" dev eth0
  ip -n "$ns" link set eth0 up
  [ -n "$up" ] && htb_root eth0 "$ns" "$up"
  [ -n "$down" ] && htb_root "h$k" "$WAN_HUB" "$down"
  printf '%s\t%s\t%s\t%s\t%s\n' "$k" "$ns" "$ipk" "${up:-unshaped}" "${down:-unshaped}" >>"$WAN_DIR/sites.tsv"
done

for p in "${PAIRS[@]}"; do
  IFS=: read -r k j rate <<<"$p"
  [[ $k =~ ^[0-9]+$ && $j =~ ^[0-9]+$ ]] && ((k < N && j < N && k != j)) || die "bad --pair $p"
  valid_rate "$rate"
  ns=$WAN_PREFIX-s$k
  # a site without --rates gets an (effectively unlimited) root class to hang the pair class on
  ip netns exec "$ns" tc class show dev eth0 classid 1:1 | grep -q . || htb_root eth0 "$ns" 10gbit
  cls=1:$((100 + j))
  htb_class eth0 "$ns" 1:1 "$cls" "$rate"
  leaf eth0 "$ns" "$cls" "$rate"
  ip netns exec "$ns" tc filter add dev eth0 parent 1: protocol ip prio 1 u32 \
    match ip dst "$SUBNET.$((j + 1))/32" flowid "$cls"
  printf '%s\t%s\t%s\n' "$k" "$j" "$rate" >>"$WAN_DIR/pairs.tsv"
done

# connectivity: every site reaches site 0 (and site 0 every site)
command -v ping >/dev/null || log "no ping (apt-get install -y iputils-ping): connectivity not checked"
for ((k = 1; k < N; k++)); do
  command -v ping >/dev/null || break
  ip netns exec "$WAN_PREFIX-s$k" ping -c1 -W2 "$SUBNET.1" >/dev/null 2>&1 || die "site $k cannot reach site 0"
done
log "emulated WAN: $N sites in namespaces $WAN_PREFIX-s0..$WAN_PREFIX-s$((N - 1)), bridge br0 in $WAN_HUB"
column -t -s $'\t' "$WAN_DIR/sites.tsv" >&2
[ -f "$WAN_DIR/pairs.tsv" ] && sed 's/^/pair /' "$WAN_DIR/pairs.tsv" >&2
true
