#!/bin/bash
# bench/wan/sshd.sh start|stop - one OpenSSH sshd per emulated site, inside its namespace, on
# <site ip>:22 (bench/lib.sh: own host key, authorized_keys, PidFile, UsePAM no, StrictModes no,
# MaxStartups 200). One client identity for all sites in $WAN_DIR/client: `ssh -F
# $WAN_DIR/client/ssh_config sJ` reaches site J from any site's namespace, host keys checked
# against $WAN_DIR/client/known_hosts; $WAN_DIR/client/home is a $HOME for nitro's ssh2 client.
# Each site's nitro repository is $WAN_DIR/repos/sK (created with `nitro init` when nitro builds).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need /usr/sbin/sshd ssh

case ${1:-} in
  start)
    ssh_client_init "$WAN_DIR/client"
    for k in $(wan_sites); do
      sshd_stop "$WAN_DIR/sshd-s$k"
      sshd_start "$WAN_DIR/sshd-s$k" "$WAN_DIR/client" "s$k" "$(wan_ip "$k")" 22 "$(wan_ns "$k")" ||
        die "sshd of site $k did not start"
      [ -d "$WAN_DIR/repos/s$k" ] || nitro --repo "$WAN_DIR/repos/s$k" init --site "s$k" >/dev/null 2>&1 ||
        log "nitro init of site $k failed (nitro not built yet?)"
    done
    log "sshd running in every site: ssh -F $WAN_DIR/client/ssh_config sK"
    ;;
  stop)
    for d in "$WAN_DIR"/sshd-s*; do [ -d "$d" ] && sshd_stop "$d"; done
    true
    ;;
  *) die "usage: sshd.sh start|stop" ;;
esac
