#!/bin/bash
# bench/ingest.sh - nitro's ingest (add) side by side with casync, restic and borg, in one run.
#
# usage: bench/ingest.sh [DATASET_DIR | IMAGE...]
#   DATASET_DIR  default /tmp/nitro-dataset (from ../shared/datasets/make-dataset.sh); every
#                *.raw is ingested into one fresh store per tool, then every *.qcow2 likewise.
#                When it has no images, a 2 GiB sparse file with partial redundancy is generated
#                (and a qcow2 of it when qemu-img exists).
# env: BENCH_OUT   work dir for stores and logs (default /tmp/nitro-bench-ingest; wiped per tool)
#      BENCH_TOOLS space-separated subset of the row names below (default: all)
#      BENCH_FORMATS "raw qcow2" (default) or one of them
#      BENCH_BUILD=0  do not run `npm run build` before the nitro rows
#      BENCH_REPEAT=N  run each row N times, report the fastest (default 1)
#      VERIFY=1     after each nitro row, export the first image and compare it with the input
#
# Page cache: dropping caches is not possible here, so the inputs are read once with cat
# before timing; every figure is "in-cache" (input reads cost memory copies, not disk).
# Repository creation (init) is not timed. Stored bytes = `du` (allocated blocks) of the tool's repository after ingesting everything;
# borg's and restic's client-side caches live outside the repository and are not counted.
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

ALL_TOOLS="cat b3sum zstd nitro-cdc nitro-cdc-1cmd nitro-cdc-l3 nitro-fixed nitro-readd casync restic restic-1cmd borg borg-fixed borg-fixed-sparse borg-fixed-sparse-1cmd borg-lz4 borg-lz4-1cmd"
TOOLS=${BENCH_TOOLS:-$ALL_TOOLS}
FORMATS=${BENCH_FORMATS:-raw qcow2}
OUT=${BENCH_OUT:-/tmp/nitro-bench-ingest}
REPEAT=${BENCH_REPEAT:-1}
mkdir -p "$OUT"
LOG=$OUT/ingest.log
: >"$LOG"
need /usr/bin/time du stat awk jq

# ---------- inputs ---------------------------------------------------------------------------
declare -a RAW=() QCOW=()
if (($# > 1)) || { (($# == 1)) && [ -f "$1" ]; }; then
  for f in "$@"; do case $f in *.qcow2) QCOW+=("$f") ;; *) RAW+=("$f") ;; esac; done
else
  DS=${1:-/tmp/nitro-dataset}
  shopt -s nullglob
  RAW=("$DS"/*.raw)
  QCOW=("$DS"/*.qcow2)
  shopt -u nullglob
  if ((${#RAW[@]} == 0 && ${#QCOW[@]} == 0)); then
    log "no images in $DS: generating a 2 GiB synthetic image"
    mkdir -p "$OUT/gen"
    gen_synthetic "$OUT/gen/synthetic.raw" 2048
    RAW=("$OUT/gen/synthetic.raw")
    if command -v qemu-img >/dev/null; then
      [ -f "$OUT/gen/synthetic.qcow2" ] || qemu-img convert -O qcow2 "$OUT/gen/synthetic.raw" "$OUT/gen/synthetic.qcow2"
      QCOW=("$OUT/gen/synthetic.qcow2")
    fi
  fi
fi

# ---------- nitro build ------------------------------------------------------------------------
if [ "${BENCH_BUILD:-1}" = 1 ] && [[ " $TOOLS " == *" nitro-"* ]]; then
  (cd "$NITRO_ROOT" && npm run build --silent) >>"$LOG" 2>&1 || log "npm run build failed (see $LOG); using the dist/ that exists"
fi

# ---------- one function per row: run_row NAME IMAGES... sets ROW_* and STORED ------------------
# A row runs one command per image, as each image would arrive; a -1cmd row gives all the images
# to one command (one process start, one archive or snapshot for borg and restic; casync make
# takes a single file).
stem() { local b; b=$(basename "$1"); echo "${b%.*}"; }

row_cat() {
  run_timed_sh "$LOG" "cat $(printf '%q ' "$@") >/dev/null"
  STORED=-
}
row_b3sum() { run_timed "$LOG" b3sum "$@"; STORED=-; }
row_zstd() {
  local d=$OUT/store-zstd f
  mkdir -p "$d"
  for f in "$@"; do run_timed "$LOG" zstd -3 -T1 -q -f "$f" -o "$d/$(stem "$f").zst" || return; done
  STORED=$(dir_usage "$d")
}
row_nitro() { # CHUNKER LEVEL IMAGE...
  local chunker=$1 level=$2 d=$OUT/store-nitro-$1-$2 f
  shift 2
  nitro_init "$d" "$chunker" "$level" || return
  for f in "$@"; do run_timed "$LOG" "$NITRO_JS" --repo "$d" add "$f" || return; done
  nitro_done "$d" "$chunker-$level" "$1"
}
row_nitro_1cmd() { # CHUNKER LEVEL IMAGE...
  local chunker=$1 level=$2 d=$OUT/store-nitro-$1-$2
  shift 2
  nitro_init "$d" "$chunker" "$level" || return
  run_timed "$LOG" "$NITRO_JS" --repo "$d" add "$@" || return
  nitro_done "$d" "$chunker-$level-1cmd" "$1"
}
nitro_init() { # DIR CHUNKER LEVEL
  local d=$1 chunker=$2 level=$3
  nitro --repo "$d" init --chunker "$chunker" --level "$level" >>"$LOG" 2>&1 || {
    ROW_OK=0
    echo "! nitro init failed" >>"$LOG"
    return 1
  }
  row_begin # repository creation is not part of the ingest
}
nitro_done() { # DIR LABEL FIRST-IMAGE
  STORED=$(dir_usage "$1")
  AFTER=(nitro_after "$@") # untimed: stats and the optional export check
}
nitro_after() {
  local d=$1 chunker=$2 first=$3
  nitro --repo "$d" stats --json >"$OUT/nitro-$chunker-stats.json" 2>>"$LOG" &&
    NOTE="stats: $(jq -c . "$OUT/nitro-$chunker-stats.json" | head -c 300)"
  if [ "${VERIFY:-0}" = 1 ]; then
    if nitro --repo "$d" export "$(stem "$first")" -o "$OUT/verify.out" >>"$LOG" 2>&1 && cmp -s "$first" "$OUT/verify.out"; then
      NOTE="$NOTE; export of $(stem "$first") identical"
    else
      NOTE="$NOTE; EXPORT OF $(stem "$first") DIFFERS OR FAILED"
    fi
    rm -f "$OUT/verify.out"
  fi
}
row_nitro-cdc() { row_nitro fastcdc 1 "$@"; }
row_nitro-cdc-1cmd() { row_nitro_1cmd fastcdc 1 "$@"; }
# The default level is 1: this row shows what level 3 would cost in time and save in bytes.
row_nitro-cdc-l3() { row_nitro fastcdc 3 "$@"; }
# The pure chunk+hash+index path, on one core: the images go in once untimed, then again in one
# command with --force; every chunk is then known, so nothing is compressed or written but the
# recipes.
row_nitro-readd() {
  local d=$OUT/store-nitro-readd f
  nitro --repo "$d" init --chunker fastcdc >>"$LOG" 2>&1 || ROW_OK=0
  for f in "$@"; do ((ROW_OK)) && { nitro --repo "$d" add "$f" >>"$LOG" 2>&1 || ROW_OK=0; }; done
  ((ROW_OK)) || return
  row_begin
  local out=$OUT/readd.out
  : >"$out"
  run_timed "$out" "$NITRO_JS" --repo "$d" add --force --json "$@" || return
  STORED=-
  # The same path without process start-up, timed by add itself (--json "seconds").
  NOTE="in-process rate (add's own clock, summed; last run): $(grep -v '^+ ' "$out" |
    jq -rs '"\((map(.logicalBytes) | add) / (map(.seconds) | add) / 1e6 | floor) MB/s"')"
}
row_nitro-fixed() { row_nitro fixed 1 "$@"; }
row_casync() {
  local d=$OUT/store-casync f
  mkdir -p "$d"
  for f in "$@"; do run_timed "$LOG" casync make --store="$d/default.castr" "$d/$(stem "$f").caibx" "$f" || return; done
  STORED=$(dir_usage "$d")
}
row_restic() {
  local d=$OUT/store-restic f
  export RESTIC_PASSWORD=nitro-bench RESTIC_CACHE_DIR=$OUT/cache-restic
  restic -r "$d" init >>"$LOG" 2>&1 || {
    ROW_OK=0
    return
  }
  row_begin
  if [ "${RESTIC_1CMD:-0}" = 1 ]; then
    run_timed "$LOG" restic -r "$d" backup --quiet "$@" || return
  else
    for f in "$@"; do run_timed "$LOG" restic -r "$d" backup --quiet "$f" || return; done
  fi
  STORED=$(dir_usage "$d")
}
row_restic-1cmd() { RESTIC_1CMD=1 row_restic "$@"; }
row_borg_with() {
  local d=$OUT/store-borg f
  export BORG_BASE_DIR=$OUT/cache-borg BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
  rm -rf "$BORG_BASE_DIR"
  borg init -e none "$d" >>"$LOG" 2>&1 || {
    ROW_OK=0
    return
  }
  row_begin
  if [ "${BORG_1CMD:-0}" = 1 ]; then
    run_timed "$LOG" borg create "$@" "$d::all" "${IMGS[@]}" || return
  else
    for f in "${IMGS[@]}"; do run_timed "$LOG" borg create "$@" "$d::$(stem "$f")" "$f" || return; done
  fi
  STORED=$(dir_usage "$d")
}
row_borg() {
  IMGS=("$@")
  row_borg_with --compression zstd,3
}
row_borg-fixed() {
  IMGS=("$@")
  row_borg_with --compression zstd,3 --chunker-params fixed,262144
}
row_borg-fixed-sparse() {
  IMGS=("$@")
  row_borg_with --compression zstd,3 --chunker-params fixed,262144 --sparse
}
row_borg-fixed-sparse-1cmd() { BORG_1CMD=1 row_borg-fixed-sparse "$@"; }
row_borg-lz4() {
  IMGS=("$@")
  row_borg_with --compression lz4
}
row_borg-lz4-1cmd() { BORG_1CMD=1 row_borg-lz4 "$@"; }

config_of() {
  case $1 in
    cat) echo "cat > /dev/null (read ceiling)" ;;
    b3sum) echo "b3sum, $(nproc) threads, mmap" ;;
    zstd) echo "zstd -3 -T1, whole files" ;;
    nitro-cdc) echo "init --chunker fastcdc (zstd 1); add" ;;
    nitro-cdc-1cmd) echo "same, one add of all the images" ;;
    nitro-cdc-l3) echo "init --chunker fastcdc --level 3; add" ;;
    nitro-fixed) echo "init --chunker fixed (zstd 1); add" ;;
    nitro-readd) echo "add --force all again: chunk+hash+index" ;;
    casync) echo "make, defaults (64K avg)" ;;
    restic) echo "backup, $(restic version 2>/dev/null | awk '{print $2}'), repo v2 auto-compress" ;;
    restic-1cmd) echo "same, one backup of all the images" ;;
    borg) echo "buzhash defaults, zstd,3, -e none" ;;
    borg-fixed) echo "fixed,262144, zstd,3, -e none" ;;
    borg-fixed-sparse) echo "fixed,262144, zstd,3, --sparse" ;;
    borg-fixed-sparse-1cmd) echo "same, one create of all the images" ;;
    borg-lz4) echo "buzhash defaults, lz4, -e none" ;;
    borg-lz4-1cmd) echo "same, one create of all the images" ;;
  esac
}

# ---------- run ----------------------------------------------------------------------------------
HDR='%-19s %-37s %8s %9s %9s %7s %7s %14s %9s\n'
run_format() {
  local fmt=$1 app alloc t
  shift
  (($# == 0)) && return
  app=$(file_apparent "$@")
  alloc=$(file_allocated "$@")
  WARM_INPUTS=("$@") # read back before every row (row_begin)
  echo
  echo "== ingest $fmt, in-cache, $# image(s): $(for f in "$@"; do basename "$f"; done | paste -sd' ')"
  echo "   apparent $app B ($(mb "$app") MB), allocated $alloc B ($(mb "$alloc") MB); $(nproc) vCPU, load $(cut -d" " -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
  # shellcheck disable=SC2059
  printf "$HDR" tool config seconds "MB/s app" "MB/s all" "CPU s" "RSS MB" "stored bytes" "stored MB"
  local tsv=$OUT/results-$fmt.tsv
  printf 'tool\tconfig\tseconds\tmbps_apparent\tmbps_allocated\tcpu_s\trss_mb\tstored_bytes\n' >"$tsv"
  for t in $TOOLS; do
    declare -F "row_$t" >/dev/null || {
      log "unknown row $t (known: $ALL_TOOLS)"
      continue
    }
    local best="" r b_secs b_cpu b_rss b_stored b_ok=0
    for ((r = 1; r <= REPEAT; r++)); do
      rm -rf "$OUT/store-"* "$OUT/cache-"*
      STORED=n/a
      NOTE=
      echo "### $fmt $t run $r" >>"$LOG"
      AFTER=()
      row_begin
      "row_$t" "$@"
      row_end
      ((ROW_OK)) || {
        STORED=n/a
        break
      }
      # keep the fastest run (the machine is shared: slower runs measure the neighbours)
      if [ -z "$best" ] || awk -v a="$ROW_SECS" -v b="$best" 'BEGIN{exit !(a<b)}'; then
        best=$ROW_SECS b_secs=$ROW_SECS b_cpu=$ROW_CPU b_rss=$ROW_RSS_MB b_stored=$STORED b_ok=1
      fi
    done
    if ((b_ok)); then
      ((${#AFTER[@]})) && "${AFTER[@]}"
      ROW_SECS=$b_secs ROW_CPU=$b_cpu ROW_RSS_MB=$b_rss STORED=$b_stored
    fi
    # shellcheck disable=SC2059
    printf "$HDR" "$t" "$(config_of "$t")" "$ROW_SECS" "$(mbps "$app" "$ROW_SECS")" "$(mbps "$alloc" "$ROW_SECS")" \
      "$ROW_CPU" "$ROW_RSS_MB" "$STORED" "$(mb "$STORED")"
    [ -n "$NOTE" ] && echo "    $t: $NOTE"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(config_of "$t")" "$ROW_SECS" "$(mbps "$app" "$ROW_SECS")" \
      "$(mbps "$alloc" "$ROW_SECS")" "$ROW_CPU" "$ROW_RSS_MB" "$STORED" >>"$tsv"
  done
  rm -rf "$OUT/store-"* "$OUT/cache-"*
}

for fmt in $FORMATS; do
  case $fmt in
    raw) run_format raw "${RAW[@]}" ;;
    qcow2) run_format qcow2 "${QCOW[@]}" ;;
  esac
done
echo
echo "log: $LOG; tables: $OUT/results-*.tsv. seconds = wall time of all commands of the row;"
echo "MB/s app = apparent input bytes / s, MB/s all = allocated input bytes / s; RSS = peak of any one command;"
echo "best of $REPEAT run(s) per row."
