#!/bin/bash
# bench/wan/teardown.sh - undo bench/wan/setup.sh: stop the sites' sshds and whatever else runs in
# the namespaces, delete the namespaces (veths and bridge go with them) and the state files.
# KEEP_REPOS=1 keeps $WAN_DIR/repos (the sites' nitro stores) for a later run.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"

"$HERE/sshd.sh" stop 2>/dev/null
# our namespaces only: the hub and nitro-s<digits>
for ns in $(ip netns list | awk '{print $1}' | grep -E "^($WAN_HUB|$WAN_PREFIX-s[0-9]+)$"); do
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  ip netns del "$ns" && log "deleted namespace $ns"
done
rm -f "$WAN_DIR/sites.tsv" "$WAN_DIR/pairs.tsv" "$WAN_DIR"/out.* "$WAN_DIR/matrix.json" "$WAN_DIR/latency.tsv" "$WAN_DIR"/delay-s*
rm -rf "$WAN_DIR/client" "$WAN_DIR"/sshd-s*
[ "${KEEP_REPOS:-0}" = 1 ] || rm -rf "$WAN_DIR/repos"
true
