#!/bin/bash
# bench/gc.sh - reclaiming space after removing half of the images: `nitro rm` + `nitro gc` next
# to `restic forget` + `restic prune` and `borg delete` + `borg compact`, on the same data.
#
# usage: bench/gc.sh [DATASET_DIR | IMAGE...]
#   DATASET_DIR  default /tmp/nitro-dataset (../shared/datasets/make-dataset.sh); its *.raw images.
#                Every image goes into one fresh repository per tool (untimed, one snapshot or
#                archive per image for restic and borg); then the first half of the images (by
#                name) is removed and the space reclaimed, timed.
# env: BENCH_OUT    work dir (default /tmp/nitro-bench-gc; each tool's repository is wiped first)
#      BENCH_TOOLS  subset of: nitro restic borg (default: all)
#      BENCH_BUILD=0  do not run `npm run build` first
#
# Every tool keeps its default for how much unused space a pack may hold before it is rewritten
# (nitro --max-unused 5, restic prune --max-unused 5%; borg compact --threshold 10).
# repo MB = `du` (allocated blocks) of the repository; reclaimed = before - after.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

TOOLS=${BENCH_TOOLS:-nitro restic borg}
OUT=${BENCH_OUT:-/tmp/nitro-bench-gc}
mkdir -p "$OUT"
LOG=$OUT/gc.log
: >"$LOG"
need /usr/bin/time du awk jq

declare -a IMAGES=()
if (($# > 1)) || { (($# == 1)) && [ -f "$1" ]; }; then
  IMAGES=("$@")
else
  shopt -s nullglob
  IMAGES=("${1:-/tmp/nitro-dataset}"/*.raw)
  shopt -u nullglob
fi
((${#IMAGES[@]} >= 2)) || die "need at least two images (build the dataset, see bench/README.md)"
mapfile -t IMAGES < <(printf '%s\n' "${IMAGES[@]}" | sort)
HALF=$((${#IMAGES[@]} / 2))
name_of() { basename "$1" .raw; }
GONE=()
for f in "${IMAGES[@]:0:HALF}"; do GONE+=("$(name_of "$f")"); done

if [ "${BENCH_BUILD:-1}" = 1 ] && [[ " $TOOLS " == *" nitro "* ]]; then
  (cd "$NITRO_ROOT" && npm run build --silent) >>"$LOG" 2>&1 || log "npm run build failed (see $LOG)"
fi
export RESTIC_PASSWORD=bench BORG_PASSPHRASE='' BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

# setup_TOOL REPO: the repository holding every image (untimed); reclaim_TOOL REPO: timed commands.
# One command per image for every tool, as restic and borg make one snapshot or archive each (for
# nitro, one pack per image: a single `add` of all of them would put everything in one pack).
setup_nitro() {
  nitro --repo "$1" init >>"$LOG" 2>&1 || return 1
  for f in "${IMAGES[@]}"; do nitro --repo "$1" add "$f" >>"$LOG" 2>&1 || return 1; done
}
reclaim_nitro() {
  run_timed "$LOG" "$NITRO_JS" --repo "$1" rm "${GONE[@]}" &&
    run_timed "$LOG" "$NITRO_JS" --repo "$1" --json gc
}
setup_restic() {
  restic -r "$1" init >>"$LOG" 2>&1 || return 1
  for f in "${IMAGES[@]}"; do restic -r "$1" backup --tag "$(name_of "$f")" "$f" >>"$LOG" 2>&1 || return 1; done
}
reclaim_restic() {
  local ids=() n
  # forget with only --tag removes nothing (no policy): it is given the snapshots' ids.
  for n in "${GONE[@]}"; do
    mapfile -t -O "${#ids[@]}" ids < <(restic -r "$1" snapshots --json --tag "$n" | jq -r '.[].id')
  done
  run_timed "$LOG" restic -r "$1" forget "${ids[@]}" && run_timed "$LOG" restic -r "$1" prune
}
setup_borg() {
  borg init -e none "$1" >>"$LOG" 2>&1 || return 1
  for f in "${IMAGES[@]}"; do borg create -C zstd,3 "$1::$(name_of "$f")" "$f" >>"$LOG" 2>&1 || return 1; done
}
reclaim_borg() {
  local n
  for n in "${GONE[@]}"; do run_timed "$LOG" borg delete "$1::$n" || return 1; done
  run_timed "$LOG" borg compact "$1"
}

HDR="%-8s %9s %7s %7s %11s %11s %11s\n"
echo "## gc: remove ${GONE[*]} of ${#IMAGES[@]} images, reclaim the space"
echo "   $(nproc) vCPU, load $(cut -d" " -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
printf "$HDR" tool seconds "CPU s" "RSS MB" "before MB" "after MB" "reclaimed MB"
TSV=$OUT/results.tsv
printf 'tool\tseconds\tcpu_s\trss_mb\tbefore_bytes\tafter_bytes\treclaimed_bytes\n' >"$TSV"
for t in $TOOLS; do
  repo=$OUT/repo-$t
  rm -rf "$repo"
  echo "== $t" >>"$LOG"
  if ! "setup_$t" "$repo"; then
    printf "$HDR" "$t" n/a n/a n/a n/a n/a n/a
    continue
  fi
  sync
  before=$(dir_usage "$repo")
  row_begin
  "reclaim_$t" "$repo"
  row_end
  sync
  after=$(dir_usage "$repo")
  printf "$HDR" "$t" "$ROW_SECS" "$ROW_CPU" "$ROW_RSS_MB" "$(mb "$before")" "$(mb "$after")" "$(mb $((before - after)))"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$ROW_SECS" "$ROW_CPU" "$ROW_RSS_MB" "$before" "$after" $((before - after)) >>"$TSV"
done
echo "log: $LOG; table: $TSV. seconds = wall time of the rm/forget/delete and gc/prune/compact commands."
