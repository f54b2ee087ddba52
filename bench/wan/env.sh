# shellcheck shell=bash disable=SC2034  # variables are set for the scripts that source this file
# bench/wan/env.sh - source it to drive an emulated WAN made by bench/wan/setup.sh.
#
#   WAN_DIR              state dir (default /tmp/nitro-wan): sites.tsv, client/, sshd-sK/, repos/sK
#   wan_sites            prints the site indexes 0..N-1
#   wan_ns K             namespace of site K (nitro-sK)
#   wan_ip K             its address (inside the namespaces only)
#   wan_exec K CMD...    runs CMD inside site K's namespace
#   wan_ssh K J CMD...   from site K, OpenSSH to site J (alias sJ; key and known_hosts of WAN_DIR/client)
#   wan_nitro K ARGS...  nitro at site K, on its repository WAN_DIR/repos/sK, with the client's ~/.ssh
#   wan_url J            ssh:// URL of site J's repository, for `nitro site add sJ URL`
#   wan_nc_send K J B    raw TCP (nc, no SSH): site J sends B bytes to site K; prints K's recv_rate
#
# A pull benchmark plugs in like this (after setup.sh N --rates ..., sshd.sh start):
#   for j in $(wan_sites); do wan_nitro 0 site add s$j "$(wan_url $j)"; done
#   wan_nitro 0 pull IMAGE --site s0

WAN_DIR=${WAN_DIR:-/tmp/nitro-wan}
WAN_PREFIX=${WAN_PREFIX:-nitro}
WAN_HUB=$WAN_PREFIX-hub
# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

wan_sites() {
  [ -f "$WAN_DIR/sites.tsv" ] || die "no emulated WAN: run bench/wan/setup.sh first"
  awk -F'\t' 'NR>1{print $1}' "$WAN_DIR/sites.tsv"
}
wan_field() { awk -F'\t' -v k="$1" -v c="$2" 'NR>1 && $1==k {print $c}' "$WAN_DIR/sites.tsv"; }
wan_ns() { wan_field "$1" 2; }
wan_ip() { wan_field "$1" 3; }
wan_exec() {
  local k=$1
  shift
  ip netns exec "$(wan_ns "$k")" "$@"
}
wan_ssh() {
  local k=$1 j=$2
  shift 2
  wan_exec "$k" ssh -F "$WAN_DIR/client/ssh_config" "s$j" "$@"
}
wan_nitro() {
  local k=$1
  shift
  wan_exec "$k" env "HOME=$WAN_DIR/client/home" SSH_AUTH_SOCK= "$NITRO_JS" --repo "$WAN_DIR/repos/s$k" "$@"
}
wan_url() { echo "ssh://root@$(wan_ip "$1")$WAN_DIR/repos/s$1"; }
# tc rate (100mbit, 2gbit, 500kbps...) -> bits/s; prints nothing for anything else
wan_rate_bits() {
  [[ ${1:-} =~ ^([0-9.]+)([kmg]?)(bit|bps)$ ]] || return 0
  awk -v n="${BASH_REMATCH[1]}" -v p="${BASH_REMATCH[2]}" -v u="${BASH_REMATCH[3]}" 'BEGIN{
    m = (p=="k") ? 1e3 : (p=="m") ? 1e6 : (p=="g") ? 1e9 : 1; if (u=="bps") m *= 8; printf "%.0f", n*m }'
}
# The HTB class parameters for RATE (for `tc class add|change ... htb`): bursts of MS ms at the
# rate (default BURST_MS, 2), at least 16 KB. HTB's default (one MTU) needs a timer per packet,
# and a late timer on a busy 2-vCPU VM is bandwidth lost for good.
wan_htb_params() {
  local burst
  burst=$(awk -v b="$(wan_rate_bits "$1")" -v ms="${2:-${BURST_MS:-2}}" 'BEGIN{l=b/8*ms/1000; if (l<16000) l=16000; printf "%.0f", l}')
  echo "rate $1 ceil $1 burst $burst cburst $burst quantum 60000"
}
# Reads stdin; prints "BYTES SECONDS T_FIRST T_LAST", timed from the first byte to EOF.
recv_rate() {
  local t0 t1 n
  head -c 1 >/dev/null || {
    echo "0 0 0 0"
    return
  }
  t0=$(now)
  n=$(wc -c)
  t1=$(now)
  echo "$((n + 1)) $(elapsed "$t0" "$t1") $t0 $t1"
}
# Site J listens on PORT (default 5001) and sends B zero bytes to site K once it connects.
wan_nc_send() {
  local k=$1 j=$2 b=$3 port=${4:-5001} srv
  wan_exec "$j" bash -c "head -c $b /dev/zero | nc -N -l $(wan_ip "$j") $port" &
  srv=$!
  for _ in $(seq 1 50); do wan_exec "$j" ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.05; done
  wan_exec "$k" nc -d "$(wan_ip "$j")" "$port" | recv_rate
  wait $srv
}
