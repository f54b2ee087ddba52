#!/bin/bash
# bench/wan/push-related.sh - first push of an image, then of a related image, over one shaped
# link: nitro vs rsync vs restic vs borg (both over ssh), with `ssh cat` as the link's ceiling.
#
# usage: bench/wan/push-related.sh [--rate 200mbit] [--rtt MS] [--first IMG] [--then IMG] [--tsv FILE]
#   Two sites: s0 (sender, upload shaped to --rate, default 200mbit; RTT --rtt, default 20 ms).
#   Per tool, a fresh destination at s1, then two timed steps:
#     first   --first (default bookworm-base.qcow2) to the empty destination
#     related --then (default bookworm-lamp.qcow2), which shares chunks with the first
#   nitro: `nitro push FILE --to s1` (add + send); rsync: `rsync -e ssh` to one file name (the
#   related image is sent as a delta against the first); restic: `restic -r sftp:` backups;
#   borg: `borg create` to ssh://s1 (zstd,3, default chunker); ssh-cat: `ssh s1 'cat >/dev/null'`.
#   Bytes on the wire: an nft counter in s0's namespace (IP bytes to s1).
# Leaves the WAN up (bench/wan/teardown.sh).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=env.sh
source "$HERE/env.sh"
need nft jq rsync restic borg

RATE=200mbit RTT_MS=20 TSV=""
FIRST=/tmp/nitro-dataset/bookworm-base.qcow2
THEN=/tmp/nitro-dataset/bookworm-lamp.qcow2
TOOLS=${BENCH_TOOLS:-ssh-cat nitro rsync restic borg}
while (($#)); do
  case $1 in
    --rate) RATE=$2 && shift 2 ;;
    --rtt) RTT_MS=$2 && shift 2 ;;
    --first) FIRST=$2 && shift 2 ;;
    --then) THEN=$2 && shift 2 ;;
    --tsv) TSV=$2 && shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[ -f "$FIRST" ] && [ -f "$THEN" ] || die "images not found: $FIRST $THEN (make-dataset.sh first)"
LOG=$WAN_DIR/push-related.log
SO=(-i "$WAN_DIR/client/id_ed25519" --known-hosts "$WAN_DIR/client/known_hosts" --ssh-config "$WAN_DIR/client/ssh_config")
SSH="ssh -F $WAN_DIR/client/ssh_config"
DST=$WAN_DIR/dst

"$HERE/setup.sh" 2 --rates "$RATE,-" 2>/dev/null || die "setup failed"
"$HERE/latency.sh" --rtt "0:1:$RTT_MS" 2>/dev/null || die "latency setup failed"
"$HERE/sshd.sh" start 2>/dev/null || die "sshd start failed"
: >"$LOG"
wan_exec 0 nft -f - <<EOF || die "nft in s0"
table inet nitropush {
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr $(wan_ip 1) counter
  }
}
EOF
wire() { wan_exec 0 nft -j list table inet nitropush | jq -r '[.nftables[] | .rule? | select(.) | .expr[] | .counter? | select(.) | .bytes] | add'; }
export RESTIC_PASSWORD=nitro-bench BORG_PASSPHRASE="" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes \
  BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_RSH="$SSH" RESTIC_CACHE_DIR=$WAN_DIR/restic-cache BORG_BASE_DIR=$WAN_DIR/borg-base
RESTIC_OPT="sftp.command=$SSH s1 -s sftp"

prepare() { # TOOL: fresh destination (untimed)
  rm -rf "$DST" "$RESTIC_CACHE_DIR" "$BORG_BASE_DIR" && mkdir -p "$DST"
  case $1 in
    nitro)
      rm -rf "$WAN_DIR/repos/s0" "$WAN_DIR/repos/s1"
      nitro --repo "$WAN_DIR/repos/s1" init --site s1 &&
        nitro --repo "$WAN_DIR/repos/s0" init --site s0 &&
        wan_nitro 0 site add s1 "$(wan_url 1)"
      ;;
    restic) wan_exec 0 restic -r "sftp:s1:$DST/restic" -o "$RESTIC_OPT" init ;;
    borg) wan_exec 0 borg init -e none "ssh://s1$DST/borg" ;;
    *) true ;;
  esac
}
step() { # TOOL FILE N: sends FILE as the N-th image
  local f=$2 n=$3
  case $1 in
    ssh-cat) wan_ssh 0 1 'cat > /dev/null' <"$f" ;;
    nitro) wan_nitro 0 push "$f" --to s1 -q "${SO[@]}" ;;
    rsync) wan_exec 0 rsync -e "$SSH" "$f" "s1:$DST/image" ;;
    restic) wan_exec 0 restic -r "sftp:s1:$DST/restic" -o "$RESTIC_OPT" backup --quiet "$f" ;;
    borg) wan_exec 0 borg create --compression zstd,3 "ssh://s1$DST/borg::img$n" "$f" ;;
  esac
}

printf '%-8s %-8s %8s %10s %12s\n' tool step seconds "wire MB" "vs ssh cat"
declare -A CAT=()
for t in $TOOLS; do
  prepare "$t" >>"$LOG" 2>&1 || {
    echo "$t: set-up failed (see $LOG)"
    continue
  }
  n=0
  for f in "$FIRST" "$THEN"; do
    n=$((n + 1))
    label=first
    ((n == 2)) && label=related
    cat "$f" >/dev/null
    sync
    w0=$(wire)
    t0=$(now)
    if step "$t" "$f" "$n" >>"$LOG" 2>&1; then
      secs=$(elapsed "$t0" "$(now)")
    else
      secs=n/a
    fi
    bytes=$(($(wire) - w0))
    [ "$t" = ssh-cat ] && CAT[$label]=$secs
    vs=$(awk -v a="${CAT[$label]:-}" -v b="$secs" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2fx", a/b; else print "n/a"}')
    printf '%-8s %-8s %8s %10s %12s\n' "$t" "$label" "$secs" "$(mb "$bytes")" "$vs"
    [ -n "$TSV" ] && printf 'push\t%s\t%s\t%s\t%s\t%s\n' "$t" "$label" "$secs" "$bytes" "$RATE" >>"$TSV"
  done
done
wan_exec 0 nft delete table inet nitropush
rm -rf "$DST"
echo "first $(basename "$FIRST") ($(mb "$(stat -c %s "$FIRST")") MB), related $(basename "$THEN") ($(mb "$(stat -c %s "$THEN")") MB);"
echo "s0 -> s1 at $RATE, RTT $RTT_MS ms; $(nproc) vCPU, load $(cut -d' ' -f1-3 /proc/loadavg). 'vs ssh cat' > 1: sooner. log: $LOG"
