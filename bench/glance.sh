#!/bin/bash
# bench/glance.sh - upload and download through a real Glance API: the nitro driver vs Glance's own
# `file` store, same images, same server (multi-store: one request header picks the store).
#
# usage: bench/glance.sh [BASE.qcow2 RELATED.qcow2]
#   default: bookworm-base.qcow2 and bookworm-lamp.qcow2 from /tmp/nitro-dataset
#   (../shared/datasets/make-dataset.sh); the second image is the first one with more packages,
#   so "added" shows what storing a related image costs in each store.
# env: BENCH_OUT  work dir (default /tmp/nitro-bench-glance; wiped at start)
#      BENCH_BUILD=0  do not run `npm run build` first
#
# Each upload is one PUT of the whole file with curl (Content-Length known); each download a GET
# to a file, compared with the input after the timing. Stored bytes = `du` of the store's
# directory (the nitro repository, or the file store's directory). glance-api runs with one
# process (workers = 0), SQLite, no Keystone; the inputs are read into the page cache first.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

DATASET=/tmp/nitro-dataset
if (($# > 0)); then IMAGES=("$@"); else IMAGES=("$DATASET/bookworm-base.qcow2" "$DATASET/bookworm-lamp.qcow2"); fi
OUT=${BENCH_OUT:-/tmp/nitro-bench-glance}
need curl qemu-img python3
for f in /usr/bin/glance-api /usr/bin/glance-manage /etc/glance/glance-api-paste.ini "${IMAGES[@]}"; do
  [ -e "$f" ] || die "missing $f (Glance: .ci/setup; images: ../shared/datasets/make-dataset.sh)"
done
[ "${BENCH_BUILD:-1}" = 0 ] || (cd "$NITRO_ROOT" && npm run -s build) || die "build failed"

rm -rf "$OUT"
mkdir -p "$OUT"/{home,staging,tasks,file-store,downloads}
export HOME="$OUT/home" XDG_CACHE_HOME="$OUT/home/.cache"

log "installing the driver into a virtualenv"
cp -r "$NITRO_ROOT/integrations/glance" "$OUT/driver-src"
/usr/bin/python3 -m venv --system-site-packages "$OUT/venv" || die "venv failed"
"$OUT/venv/bin/python" -m pip install -q --no-index --no-deps --no-build-isolation "$OUT/driver-src" \
  || die "pip install of the driver failed"

nitro --repo "$OUT/nitro" init --site bench >/dev/null || die "nitro init failed"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$OUT/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
workers = 0
enabled_backends = nitro:nitro, file:file
log_file = $OUT/glance-api.log
[database]
connection = sqlite:///$OUT/glance.sqlite
[glance_store]
default_backend = nitro
[nitro]
nitro_command = $(command -v node) $NITRO_JS
nitro_repo = $OUT/nitro
[file]
filesystem_store_datadir = $OUT/file-store
[os_glance_staging_store]
filesystem_store_datadir = $OUT/staging
[os_glance_tasks_store]
filesystem_store_datadir = $OUT/tasks
[paste_deploy]
flavor =
config_file = /etc/glance/glance-api-paste.ini
EOF
glance-manage --config-file "$OUT/glance-api.conf" db_sync >"$OUT/db_sync.log" 2>&1 || die "db_sync failed"
"$OUT/venv/bin/python" /usr/bin/glance-api --config-file "$OUT/glance-api.conf" >"$OUT/glance-api.out" 2>&1 &
GLANCE_PID=$!
trap 'kill $GLANCE_PID 2>/dev/null; wait $GLANCE_PID 2>/dev/null' EXIT
API="http://127.0.0.1:$PORT"
for _ in $(seq 240); do
  curl -sf "$API/versions" >/dev/null && break
  kill -0 $GLANCE_PID 2>/dev/null || die "glance-api exited: see $OUT/glance-api.out"
  sleep 0.5
done
curl -sf "$API/versions" >/dev/null || die "glance-api did not start: see $OUT/glance-api.log"

create_image() {
  curl -sf -X POST "$API/v2/images" -H 'Content-Type: application/json' \
    -d "{\"name\": \"$1\", \"disk_format\": \"qcow2\", \"container_format\": \"bare\"}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
store_dir() { if [ "$1" = nitro ]; then echo "$OUT/nitro"; else echo "$OUT/file-store"; fi; }

printf '%-6s %-24s %9s %10s %8s %10s %8s %11s %11s\n' store image "size MB" "upload s" "MB/s" \
  "download s" "MB/s" "stored MB" "added MB"
for store in file nitro; do
  for img in "${IMAGES[@]}"; do
    name=$(basename "$img" .qcow2)
    size=$(stat -c %s "$img")
    cat "$img" >/dev/null
    sync
    before=$(dir_usage "$(store_dir $store)")
    id=$(create_image "$name") || die "create image failed"
    t0=$(now)
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$API/v2/images/$id/file" \
      -H 'Content-Type: application/octet-stream' -H "X-Image-Meta-Store: $store" -T "$img")
    up=$(elapsed "$t0" "$(now)")
    [ "$code" = 204 ] || die "upload of $name to $store: HTTP $code (see $OUT/glance-api.log)"
    sync
    after=$(dir_usage "$(store_dir $store)")
    t0=$(now)
    curl -sf -o "$OUT/downloads/$name" "$API/v2/images/$id/file" || die "download of $name failed"
    down=$(elapsed "$t0" "$(now)")
    cmp -s "$img" "$OUT/downloads/$name" || die "$name from $store differs from its input"
    rm -f "$OUT/downloads/$name"
    printf '%-6s %-24s %9s %10s %8s %10s %8s %11s %11s\n' "$store" "$name" "$(mb "$size")" "$up" \
      "$(mbps "$size" "$up")" "$down" "$(mbps "$size" "$down")" "$(mb "$after")" "$(mb $((after - before)))"
  done
done
