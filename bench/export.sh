#!/bin/bash
# bench/export.sh - restore speed: `nitro export` vs `restic restore`, `borg extract`,
# `casync extract`, in one run, interleaved; plus a sparse 24 GiB image's export RSS.
#
# usage: bench/export.sh [DATASET_DIR | IMAGE...]
#   DATASET_DIR  default /tmp/nitro-dataset (../shared/datasets/make-dataset.sh); every *.qcow2,
#                then every *.raw, is stored once per tool (untimed), then restored.
# env: BENCH_OUT     work dir (default /tmp/nitro-bench-export)
#      BENCH_TOOLS   subset of: nitro nitro-stdout restic borg casync (default: all)
#      BENCH_FORMATS "qcow2 raw" (default) or one of them
#      BENCH_REPEAT  rounds (default 3): each round restores all images with every tool, the
#                    tools' order rotating from round to round; the table shows the fastest round
#                    and the median
#      BENCH_SPARSE  size of the sparse image in GiB (default 24; 0 skips it)
#      BENCH_BUILD=0 do not run `npm run build`
#
# One restore command per image, into a fresh directory; its files are deleted (untimed) after
# the row, and `sync` runs before each row so that no row pays for the previous one's write-back.
# nitro export ends with fdatasync and rename (the file is durable when it returns); the others
# do not sync. borg extract gets --sparse (nitro leaves zero runs as holes).
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

ALL_TOOLS="nitro nitro-stdout restic borg casync"
TOOLS=${BENCH_TOOLS:-$ALL_TOOLS}
FORMATS=${BENCH_FORMATS:-qcow2 raw}
OUT=${BENCH_OUT:-/tmp/nitro-bench-export}
REPEAT=${BENCH_REPEAT:-3}
SPARSE_GIB=${BENCH_SPARSE:-24}
mkdir -p "$OUT"
LOG=$OUT/export.log
: >"$LOG"
need /usr/bin/time du stat awk

declare -a RAW=() QCOW=()
if (($# > 1)) || { (($# == 1)) && [ -f "$1" ]; }; then
  for f in "$@"; do case $f in *.qcow2) QCOW+=("$f") ;; *) RAW+=("$f") ;; esac; done
else
  DS=${1:-/tmp/nitro-dataset}
  shopt -s nullglob
  RAW=("$DS"/*.raw)
  QCOW=("$DS"/*.qcow2)
  shopt -u nullglob
  ((${#RAW[@]} + ${#QCOW[@]} > 0)) || die "no images in $DS (run ../shared/datasets/make-dataset.sh -o $DS)"
fi

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  (cd "$NITRO_ROOT" && npm run build --silent) >>"$LOG" 2>&1 || log "npm run build failed (see $LOG); using the dist/ that exists"
fi

stem() { local b; b=$(basename "$1"); echo "${b%.*}"; }
export RESTIC_PASSWORD=nitro-bench RESTIC_CACHE_DIR=$OUT/cache-restic
export BORG_BASE_DIR=$OUT/cache-borg BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

# ---------- stores (untimed): every image once per tool ----------------------------------------
store_all() { # TOOL IMAGE...
  local t=$1 d=$OUT/store-$1 f
  shift
  rm -rf "$d"
  case $t in
    nitro | nitro-stdout)
      [ -d "$OUT/store-nitro" ] && [ "$t" = nitro-stdout ] && return 0
      d=$OUT/store-nitro
      rm -rf "$d"
      nitro --repo "$d" init >>"$LOG" 2>&1 && nitro --repo "$d" add "$@" >>"$LOG" 2>&1
      ;;
    restic)
      restic -r "$d" init >>"$LOG" 2>&1 || return
      for f in "$@"; do restic -r "$d" backup --quiet --tag "$(stem "$f")" "$f" >>"$LOG" 2>&1 || return; done
      ;;
    borg)
      borg init -e none "$d" >>"$LOG" 2>&1 || return
      for f in "$@"; do borg create --compression zstd,3 "$d::$(stem "$f")" "$f" >>"$LOG" 2>&1 || return; done
      ;;
    casync)
      mkdir -p "$d"
      for f in "$@"; do casync make --store="$d/default.castr" "$d/$(stem "$f").caibx" "$f" >>"$LOG" 2>&1 || return; done
      ;;
  esac
}

# ---------- restores (timed): one command per image ---------------------------------------------
restore_all() { # TOOL IMAGE...  (restores into $OUT/out)
  local t=$1 f n
  shift
  for f in "$@"; do
    n=$(stem "$f")
    case $t in
      nitro) run_timed "$LOG" "$NITRO_JS" --repo "$OUT/store-nitro" export "$n" -o "$OUT/out/$n" || return ;;
      nitro-stdout) run_timed_sh "$LOG" "$(printf %q "$NITRO_JS") --repo $(printf %q "$OUT/store-nitro") export $n -o - >$(printf %q "$OUT/out/$n")" || return ;;
      restic) run_timed "$LOG" restic -r "$OUT/store-restic" restore latest --tag "$n" --target "$OUT/out" --quiet || return ;;
      borg) run_timed_sh "$LOG" "cd $(printf %q "$OUT/out") && borg extract --sparse $(printf %q "$OUT/store-borg::$n")" || return ;;
      casync) run_timed "$LOG" casync extract --store="$OUT/store-casync/default.castr" "$OUT/store-casync/$n.caibx" "$OUT/out/$n" || return ;;
    esac
  done
}

# the file each tool restored for IMAGE (restic and borg keep the absolute path under the target)
restored_file() { # TOOL IMAGE
  case $1 in
    restic | borg) echo "$OUT/out/${2#/}" ;;
    *) echo "$OUT/out/$(stem "$2")" ;;
  esac
}

config_of() {
  case $1 in
    nitro) echo "export -o FILE (fastcdc, zstd 1; fdatasync)" ;;
    nitro-stdout) echo "export -o - > FILE (no sync, not sparse)" ;;
    restic) echo "restore, $(restic version 2>/dev/null | awk '{print $2}')" ;;
    borg) echo "extract --sparse (buzhash, zstd,3)" ;;
    casync) echo "extract (64K avg)" ;;
  esac
}

median() { sort -g | awk '{a[NR]=$1} END{if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else printf "%.2f", (a[NR/2]+a[NR/2+1])/2}'; }

HDR='%-13s %-44s %8s %8s %9s %7s %7s %7s\n'
run_format() {
  local fmt=$1 app t r k
  shift
  (($# == 0)) && return
  app=$(file_apparent "$@")
  local -a tools
  read -r -a tools <<<"$TOOLS"
  for t in "${tools[@]}"; do
    log "storing the $fmt images with $t"
    store_all "$t" "$@" || log "$t could not store the images (see $LOG)"
  done
  declare -A secs=() best=() cpu=() rss=() ok=()
  for ((r = 0; r < REPEAT; r++)); do
    for ((k = 0; k < ${#tools[@]}; k++)); do
      t=${tools[$(((k + r) % ${#tools[@]}))]}
      [ "${ok[$t]:-1}" = 0 ] && continue
      rm -rf "$OUT/out"
      mkdir -p "$OUT/out"
      echo "### $fmt $t round $r" >>"$LOG"
      row_begin
      restore_all "$t" "$@"
      row_end
      if ((ROW_OK == 0)); then
        ok[$t]=0
        continue
      fi
      if ((r == 0)); then # check once that the tool restored the images byte for byte
        local f
        for f in "$@"; do
          cmp -s "$f" "$(restored_file "$t" "$f")" || {
            log "$t: $(basename "$f") restored differently"
            ok[$t]=0
          }
        done
      fi
      secs[$t]="${secs[$t]:-} $ROW_SECS"
      if [ -z "${best[$t]:-}" ] || awk -v a="$ROW_SECS" -v b="${best[$t]}" 'BEGIN{exit !(a<b)}'; then
        best[$t]=$ROW_SECS cpu[$t]=$ROW_CPU
      fi
      ((${ROW_RSS_MB:-0} > ${rss[$t]:-0})) && rss[$t]=$ROW_RSS_MB
    done
  done
  rm -rf "$OUT/out"
  echo
  echo "== restore $fmt, $# image(s), $(mb "$app") MB apparent: $(for f in "$@"; do basename "$f"; done | paste -sd' ')"
  echo "   $(nproc) vCPU, load $(cut -d" " -f1-3 /proc/loadavg); $REPEAT interleaved rounds; $(date -u +%FT%TZ)"
  # shellcheck disable=SC2059
  printf "$HDR" tool config "best s" "median s" "MB/s app" "CPU s" "RSS MB" "correct"
  local tsv=$OUT/results-$fmt.tsv
  printf 'tool\tconfig\tbest_s\tmedian_s\tcpu_s\trss_mb\tcorrect\n' >"$tsv"
  for t in "${tools[@]}"; do
    local med correct=yes
    med=$(tr ' ' '\n' <<<"${secs[$t]:-}" | grep . | median)
    [ "${ok[$t]:-1}" = 0 ] && correct=NO
    # shellcheck disable=SC2059
    printf "$HDR" "$t" "$(config_of "$t")" "${best[$t]:-n/a}" "$med" "$(mbps "$app" "${best[$t]:-n/a}")" \
      "${cpu[$t]:-n/a}" "${rss[$t]:-n/a}" "$correct"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$(config_of "$t")" "${best[$t]:-n/a}" "$med" "${cpu[$t]:-n/a}" \
      "${rss[$t]:-n/a}" "$correct" >>"$tsv"
  done
  rm -rf "$OUT/store-"* "$OUT/cache-"*
}

# ---------- a sparse image: does export memory stay flat? ----------------------------------------
sparse_rss() {
  local gib=$1 img=$OUT/sparse-${1}g.raw src=${RAW[0]:-${QCOW[0]:-}} d=$OUT/store-sparse tf
  [ -n "$src" ] || return
  rm -f "$img"
  truncate -s "${gib}G" "$img"
  # the same real data at the start, in the middle and at the end: holes in between
  dd if="$src" of="$img" conv=notrunc,sparse bs=1M status=none
  dd if="$src" of="$img" conv=notrunc,sparse bs=1M seek=$((gib * 512)) status=none
  dd if="$src" of="$img" conv=notrunc,sparse bs=1M seek=$((gib * 1024 - $(stat -c %s "$src") / 1048576)) status=none
  rm -rf "$d"
  nitro --repo "$d" init >>"$LOG" 2>&1 && nitro --repo "$d" add "$img" --name sparse >>"$LOG" 2>&1 || {
    log "could not store the sparse image"
    return
  }
  echo
  echo "== sparse ${gib} GiB image ($(mb "$(file_allocated "$img")") MB allocated): peak RSS of one command"
  printf '%-40s %8s %7s %7s\n' command seconds "CPU s" "RSS MB"
  for mode in file stdout; do
    tf=$(mktemp)
    sync
    local t0 t1
    t0=$(now)
    if [ $mode = file ]; then
      /usr/bin/time -f '%U %S %M' -o "$tf" "$NITRO_JS" --repo "$d" export sparse -o "$OUT/sparse.out" >>"$LOG" 2>&1
    else
      /usr/bin/time -f '%U %S %M' -o "$tf" "$NITRO_JS" --repo "$d" export sparse -o - 2>>"$LOG" >/dev/null
    fi
    t1=$(now)
    read -r u s m <"$tf"
    printf '%-40s %8s %7s %7s\n' "export -o $([ $mode = file ] && echo FILE || echo '- >/dev/null')" \
      "$(elapsed "$t0" "$t1")" "$(awk -v a="$u" -v b="$s" 'BEGIN{printf "%.2f", a+b}')" "$((m / 1024))"
    rm -f "$tf" "$OUT/sparse.out"
  done
  rm -rf "$d" "$img"
}

for fmt in $FORMATS; do
  case $fmt in
    raw) run_format raw "${RAW[@]}" ;;
    qcow2) run_format qcow2 "${QCOW[@]}" ;;
  esac
done
((SPARSE_GIB > 0)) && sparse_rss "$SPARSE_GIB"
echo
echo "log: $LOG; tables: $OUT/results-*.tsv. best/median s = wall time of one restore command per image,"
echo "over $REPEAT interleaved rounds; CPU s = user+sys of the best round; RSS = peak of any one command."
