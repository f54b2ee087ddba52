#!/bin/bash
# bench/s3.sh - an s3:// site on a local single-node Swift (s3api): nitro push/pull vs rclone copy
# of the same file to the same bucket, seconds and bytes stored/uploaded, in one run.
#
# usage: bench/s3.sh [IMAGE [RELATED]]
#   IMAGE    default: the largest qcow2 in /tmp/nitro-dataset (else the largest raw there, else a
#            generated 1 GiB synthetic raw image)
#   RELATED  a second, related image (default: another qcow2 of the dataset, bookworm-base when
#            IMAGE is bookworm-lamp); its rows show the bytes each tool uploads for it
# env: BENCH_OUT    work dir (default /tmp/nitro-bench-s3; wiped at start)
#      BENCH_BUILD=0  do not run `npm run build` first
#
# Swift runs from test/helpers/swift.ts (started by vite-node, stopped at exit): rings, configs and
# data under BENCH_OUT, memcached, tempauth's test:tester. Stored bytes = the sizes of the objects
# under each tool's prefix (`rclone size`: multipart objects count once, at their full size).
# Uploaded bytes for RELATED: nitro's own report (payload bytes sent, compressed frames), rclone's
# = the file (it has no deduplication). The input is read once before timing (in-cache).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

OUT=${BENCH_OUT:-/tmp/nitro-bench-s3}
DS=/tmp/nitro-dataset
need /usr/bin/time rclone jq
rm -rf "$OUT"
mkdir -p "$OUT"
LOG=$OUT/s3.log
: >"$LOG"

largest() { ls -S "$@" 2>/dev/null | head -1; }
IMG=${1:-}
REL=${2:-}
if [ -z "$IMG" ]; then
  IMG=$(largest "$DS"/*.qcow2)
  [ -n "$IMG" ] || IMG=$(largest "$DS"/*.raw)
  if [ -z "$IMG" ]; then
    log "no dataset in $DS: generating a 1 GiB synthetic image"
    gen_synthetic "$OUT/synthetic.raw" 1024
    IMG=$OUT/synthetic.raw
  fi
  if [ -z "$REL" ]; then
    case $IMG in
      */bookworm-lamp.qcow2) REL=$DS/bookworm-base.qcow2 ;;
      *.qcow2) REL=$(ls "$DS"/*.qcow2 | grep -vx "$IMG" | head -1) ;;
    esac
  fi
fi
[ -f "$IMG" ] || die "no such image: $IMG"
IMG=$(realpath "$IMG")
[ -z "$REL" ] || [ -f "$REL" ] || die "no such image: $REL"
SIZE=$(stat -c %s "$IMG")
NAME=$(basename "$IMG")
NAME=${NAME%.*}

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  (cd "$NITRO_ROOT" && npm run build --silent) >>"$LOG" 2>&1 || log "npm run build failed (see $LOG); using the dist/ that exists"
fi

# ---------- Swift ------------------------------------------------------------------------------
cat >"$OUT/swift.ts" <<EOF
import { startSwift } from "$NITRO_ROOT/test/helpers/swift.ts";
const swift = await startSwift();
const bucket = await swift.newBucket("bench");
console.log(JSON.stringify({ endpoint: swift.endpoint, bucket, dir: swift.dir }));
const stop = () => void swift.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setInterval(() => undefined, 1 << 30);
EOF
TMPDIR=$OUT "$NITRO_ROOT/node_modules/.bin/vite-node" "$OUT/swift.ts" >"$OUT/swift.json" 2>>"$LOG" &
SWIFT_PID=$!
cleanup() { kill "$SWIFT_PID" 2>/dev/null && wait "$SWIFT_PID" 2>/dev/null; }
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in $(seq 300); do
  [ -s "$OUT/swift.json" ] && break
  kill -0 "$SWIFT_PID" 2>/dev/null || die "Swift did not start (see $LOG)"
  sleep 0.2
done
[ -s "$OUT/swift.json" ] || die "Swift did not start within 60 s"
EP=$(jq -r .endpoint "$OUT/swift.json")
BUCKET=$(jq -r .bucket "$OUT/swift.json")

export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export NITRO_CACHE_DIR=$OUT/cache
export RCLONE_CONFIG_SW_TYPE=s3 RCLONE_CONFIG_SW_PROVIDER=Other RCLONE_CONFIG_SW_ENDPOINT=$EP \
  RCLONE_CONFIG_SW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  RCLONE_CONFIG_SW_FORCE_PATH_STYLE=true
# rclone's AWS SDK refuses an AWS_CA_BUNDLE it cannot apply to its own transport (the endpoint is http).
RCLONE=(env -u AWS_CA_BUNDLE rclone)
stored() {
  local b
  b=$("${RCLONE[@]}" size --json "sw:$BUCKET/$1" 2>>"$LOG" | jq -r .bytes)
  echo "${b:-n/a}"
}
site_add() { nitro --repo "$1" site add vault "s3://$BUCKET/nitro" --endpoint "$EP" --path-style >>"$LOG" 2>&1; }
cd "$OUT" || die "cannot cd $OUT"

# ---------- rows ---------------------------------------------------------------------------------
HDR='%-22s %-46s %8s %7s %7s %7s %14s\n'
# shellcheck disable=SC2059
printf "== s3 site on Swift s3api ($EP), in-cache: %s (%s MB)%s\n" "$IMG" "$(mb "$SIZE")" "${REL:+; related: $REL}"
echo "   $(nproc) vCPU, load $(cut -d" " -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
# shellcheck disable=SC2059
printf "$HDR" row config seconds "MB/s" "CPU s" "RSS MB" "bytes"
TSV=$OUT/results.tsv
printf 'row\tconfig\tseconds\tmbps\tcpu_s\trss_mb\tbytes\n' >"$TSV"
report() { # row config bytes-figure
  row_end
  # shellcheck disable=SC2059
  printf "$HDR" "$1" "$2" "$ROW_SECS" "$(mbps "$SIZE" "$ROW_SECS")" "$ROW_CPU" "$ROW_RSS_MB" "$3"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$ROW_SECS" "$(mbps "$SIZE" "$ROW_SECS")" "$ROW_CPU" "$ROW_RSS_MB" "$3" >>"$TSV"
}
WARM_INPUTS=("$IMG")

nitro --repo "$OUT/origin" init --site origin >>"$LOG" 2>&1 && site_add "$OUT/origin" || die "nitro init failed (see $LOG)"
row_begin
run_timed "$LOG" "$NITRO_JS" --repo "$OUT/origin" push "$IMG" --to vault
report nitro-push "push FILE (add + send) to a fresh s3 site" "$(stored nitro) stored"

row_begin
run_timed "$LOG" "${RCLONE[@]}" copy "$IMG" "sw:$BUCKET/rclone/"
report rclone-copy "rclone copy FILE to the same bucket" "$(stored rclone) stored"

nitro --repo "$OUT/puller" init --site puller >>"$LOG" 2>&1 && site_add "$OUT/puller"
WARM_INPUTS=()
row_begin
run_timed "$LOG" "$NITRO_JS" --repo "$OUT/puller" pull "$NAME" -o "$OUT/pulled-nitro"
report nitro-pull "pull IMAGE from the s3 site (fresh node)" "$(stat -c %s "$OUT/pulled-nitro" 2>/dev/null || echo n/a) out"
cmp -s "$IMG" "$OUT/pulled-nitro" || echo "   ! nitro's pulled file differs from the input"

row_begin
run_timed "$LOG" "${RCLONE[@]}" copy "sw:$BUCKET/rclone/$(basename "$IMG")" "$OUT/pulled-rclone/"
report rclone-pull "rclone copy back to a local dir" "$(stat -c %s "$OUT/pulled-rclone/$(basename "$IMG")" 2>/dev/null || echo n/a) out"

if [ -n "$REL" ]; then
  WARM_INPUTS=("$REL")
  row_begin
  run_timed "$OUT/related.out" "$NITRO_JS" --repo "$OUT/origin" --json push "$REL" --to vault
  cat "$OUT/related.out" >>"$LOG"
  sent=$(grep -v '^[+!] ' "$OUT/related.out" | jq -r '.results[0].wireBytes' 2>/dev/null)
  report nitro-push-related "push RELATED to the same site: frames sent" "${sent:-n/a} sent"
  row_begin
  run_timed "$LOG" "${RCLONE[@]}" copy "$REL" "sw:$BUCKET/rclone/"
  report rclone-related "rclone copy RELATED: the whole file" "$(stat -c %s "$REL") sent"
  echo "   stored after both images: nitro $(stored nitro) B, rclone $(stored rclone) B"
fi
echo "log: $LOG; table: $TSV. MB/s = image bytes / s; CPU s and RSS: the client's."
