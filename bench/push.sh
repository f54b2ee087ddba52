#!/bin/bash
# bench/push.sh - first push of one image to a loopback SSH site: nitro vs rsync vs restic (sftp),
# with `ssh host 'cat > /dev/null'` as the link ceiling, in one run.
#
# usage: bench/push.sh [IMAGE]
#   IMAGE  default: /tmp/nitro-dataset/bookworm-lamp.qcow2 (else the first qcow2 there, else a
#          generated 2 GiB synthetic raw image)
# env: BENCH_OUT    work dir (default /tmp/nitro-bench-push; destination stores are wiped per row)
#      BENCH_TOOLS  subset of: ssh-cat rsync restic nitro-push nitro-push-added nitro-repush
#      BENCH_BUILD=0  do not run `npm run build` first
#      BENCH_REPEAT=N run each row N times, report the fastest (default 1)
#
# A throwaway OpenSSH sshd (bench/lib.sh) listens on 127.0.0.1:<free port>, as root, with its own
# host key, authorized_keys and known_hosts; every client uses aes128-gcm@openssh.com. nitro's
# ssh2 client is given HOME=<work dir>/client/home, whose .ssh holds the same key, config and
# known_hosts. The input is read once before timing (in-cache). Bytes on the wire come from
# nftables counters on the sshd port (IP bytes, both directions) or, without nft, lo deltas.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

TOOLS=${BENCH_TOOLS:-ssh-cat rsync restic nitro-push nitro-push-added nitro-repush}
OUT=${BENCH_OUT:-/tmp/nitro-bench-push}
REPEAT=${BENCH_REPEAT:-1}
DS=/tmp/nitro-dataset
need /usr/bin/time /usr/sbin/sshd ssh rsync jq
mkdir -p "$OUT"
LOG=$OUT/push.log
: >"$LOG"

IMG=${1:-}
if [ -z "$IMG" ]; then
  IMG=$DS/bookworm-lamp.qcow2
  [ -f "$IMG" ] || IMG=$(ls "$DS"/*.qcow2 2>/dev/null | head -1)
  if [ -z "$IMG" ]; then
    log "no dataset in $DS: generating a 2 GiB synthetic image"
    mkdir -p "$OUT/gen"
    gen_synthetic "$OUT/gen/synthetic.raw" 2048
    IMG=$OUT/gen/synthetic.raw
  fi
fi
[ -f "$IMG" ] || die "no such image: $IMG"
IMG=$(realpath "$IMG")
SIZE=$(stat -c %s "$IMG")
NAME=$(basename "$IMG")
NAME=${NAME%.*}

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  (cd "$NITRO_ROOT" && npm run build --silent) >>"$LOG" 2>&1 || log "npm run build failed (see $LOG); using the dist/ that exists"
fi

# ---------- the site -------------------------------------------------------------------------
C=$OUT/client
S=$OUT/sshd
cleanup() {
  wire_counter_stop
  sshd_stop "$S"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$OUT/dst-"* "$OUT/nitro-"*
ssh_client_init "$C"
PORT=$(free_port) || die "no free port"
sshd_start "$S" "$C" lab 127.0.0.1 "$PORT" || die "sshd did not start"
wire_counter_start "$PORT"
SSH_STR="ssh -F $C/ssh_config -c aes128-gcm@openssh.com"
LOCAL=$OUT/nitro-local
REMOTE=$OUT/nitro-remote
URL="ssh://root@127.0.0.1:$PORT$REMOTE"
# nitro as a client of the site: its ssh2 client reads ~/.ssh (keys, config, known_hosts)
NITRO_H=(env "HOME=$C/home" SSH_AUTH_SOCK= "$NITRO_JS")
SSH_OPTS=(-i "$C/id_ed25519" --known-hosts "$C/known_hosts" --ssh-config "$C/ssh_config")
cd "$OUT" || die "cannot cd $OUT" # so that an image NAME is never mistaken for a file

# ---------- rows ---------------------------------------------------------------------------------
row_ssh-cat() { run_timed_sh "$LOG" "$SSH_STR lab 'cat > /dev/null' < $(printf %q "$IMG")"; }
row_rsync() {
  mkdir -p "$OUT/dst-rsync"
  run_timed "$LOG" rsync -e "$SSH_STR" "$IMG" "lab:$OUT/dst-rsync/"
}
row_restic() {
  local repo=sftp:lab:$OUT/dst-restic opt="sftp.command=$SSH_STR lab -s sftp"
  export RESTIC_PASSWORD=nitro-bench RESTIC_CACHE_DIR=$OUT/dst-restic-cache
  restic -r "$repo" -o "$opt" init >>"$LOG" 2>&1 || {
    ROW_OK=0
    return
  }
  WIRE0=$(wire_counter_read) # the repository's creation is not part of the backup
  row_begin
  run_timed "$LOG" restic -r "$repo" -o "$opt" backup --quiet "$IMG"
}
fresh_remote() {
  rm -rf "$REMOTE"
  nitro --repo "$REMOTE" init >>"$LOG" 2>&1
}
row_nitro-push() {
  rm -rf "$LOCAL"
  # The site's repository first: `site add` checks that the URL holds one.
  fresh_remote && nitro --repo "$LOCAL" init >>"$LOG" 2>&1 &&
    "${NITRO_H[@]}" --repo "$LOCAL" site add lab "$URL" >>"$LOG" 2>&1 || {
    ROW_OK=0
    echo "! nitro init/site add failed" >>"$LOG"
    return
  }
  WIRE0=$(wire_counter_read)
  row_begin
  run_timed "$LOG" "${NITRO_H[@]}" --repo "$LOCAL" push "$IMG" --to lab "${SSH_OPTS[@]}"
}
row_nitro-push-added() {
  fresh_remote || {
    ROW_OK=0
    return
  }
  WIRE0=$(wire_counter_read)
  row_begin
  run_timed "$LOG" "${NITRO_H[@]}" --repo "$LOCAL" push "$NAME" --to lab "${SSH_OPTS[@]}"
}
row_nitro-repush() { run_timed "$LOG" "${NITRO_H[@]}" --repo "$LOCAL" push "$NAME" --to lab "${SSH_OPTS[@]}"; }

config_of() {
  case $1 in
    ssh-cat) echo "ssh lab 'cat > /dev/null' < img (ceiling)" ;;
    rsync) echo "rsync -e ssh, to an empty dir" ;;
    restic) echo "restic -r sftp:, fresh repo (init untimed)" ;;
    nitro-push) echo "push FILE: add + send, fresh stores" ;;
    nitro-push-added) echo "push IMAGE (already added), fresh site" ;;
    nitro-repush) echo "push IMAGE again (site has it)" ;;
  esac
}

log "warming the page cache"
cat "$IMG" >/dev/null
echo "== push, in-cache: $IMG"
echo "   $SIZE B ($(mb "$SIZE") MB apparent, $(mb "$(file_allocated "$IMG")") MB allocated) to sshd on 127.0.0.1:$PORT; $(nproc) vCPU, load $(cut -d" " -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo "   bytes on the wire: $WIRE_METHOD"
HDR='%-17s %-43s %8s %7s %7s %7s %13s %13s %7s\n'
# shellcheck disable=SC2059
printf "$HDR" tool config seconds "MB/s" "CPU s" "RSS MB" "to server B" "from srv B" "wire/img"
TSV=$OUT/results.tsv
printf 'tool\tconfig\tseconds\tmbps\tcpu_s\trss_mb\tto_server_bytes\tfrom_server_bytes\n' >"$TSV"
for t in $TOOLS; do
  declare -F "row_$t" >/dev/null || {
    log "unknown row $t"
    continue
  }
  best="" b_ok=0 b_remote=""
  for ((r = 1; r <= REPEAT; r++)); do
    echo "### $t run $r" >>"$LOG"
    rm -rf "$OUT/dst-"*
    WIRE0=$(wire_counter_read)
    : >"$S/remote-time.log"
    row_begin
    "row_$t"
    row_end
    ((ROW_OK)) || break
    # CPU of the far side's nitro processes (serve), from the timed wrapper lib.sh installs
    remote=$(awk '/^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$/ {n++; c+=$2+$3; if ($4>m) m=$4} END{if (n) printf "%.2f CPU s, %.0f MB peak RSS in %d process(es)", c, m/1024, n}' "$S/remote-time.log")
    read -r up0 down0 <<<"$WIRE0"
    read -r up1 down1 <<<"$(wire_counter_read)"
    up=n/a down=n/a
    if [[ $up1 =~ ^[0-9]+$ ]]; then
      up=$((up1 - up0))
      [[ $down1 =~ ^[0-9]+$ ]] && down=$((down1 - down0))
    fi
    # keep the fastest run (the machine is shared: slower runs measure the neighbours)
    if [ -z "$best" ] || awk -v a="$ROW_SECS" -v b="$best" 'BEGIN{exit !(a<b)}'; then
      best=$ROW_SECS b_ok=1 b_cpu=$ROW_CPU b_rss=$ROW_RSS_MB b_up=$up b_down=$down b_remote=$remote
    fi
  done
  secs=n/a cpu=n/a rss=n/a up=n/a down=n/a ratio=n/a
  if ((b_ok)); then
    secs=$best cpu=$b_cpu rss=$b_rss up=$b_up down=$b_down
    [[ $up =~ ^[0-9]+$ ]] && ratio=$(awk -v a="$up" -v b="$SIZE" 'BEGIN{printf "%.3f", a/b}')
  fi
  # shellcheck disable=SC2059
  printf "$HDR" "$t" "$(config_of "$t")" "$secs" "$(mbps "$SIZE" "$secs")" "$cpu" "$rss" "$up" "$down" "$ratio"
  ((b_ok)) && [ -n "$b_remote" ] && echo "    $t far side: $b_remote"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(config_of "$t")" "$secs" "$(mbps "$SIZE" "$secs")" \
    "$cpu" "$rss" "$up" "$down" >>"$TSV"
done
rm -rf "$OUT/dst-"*
if [ -d "$LOCAL" ] && nitro --repo "$LOCAL" stats --json >"$OUT/nitro-local-stats.json" 2>>"$LOG"; then
  echo "   nitro local store after push (unique compressed bytes to compare with 'to server'): $(jq -c . "$OUT/nitro-local-stats.json" | head -c 300)"
fi
echo "log: $LOG; table: $TSV. MB/s = image bytes / s; CPU s and RSS: client side (far side: the line below a nitro row);"
echo "best of $REPEAT run(s) per row."
