#!/usr/bin/env bash
# The nitro demo, on local directories only (no configuration, no SSH):
# two related VM images are added, pushed to three sites, rebuilt at a fourth site by
# fetching chunks from all three at once, following a plan over their (simulated) links; then
# `where` shows which site holds what, replicate spreads an image with sites relaying, verify
# --repair mends rotten chunks from the other sites, and rm + gc retire an image at one site.
# DEMO_DIR keeps the files; DEMO_SIZE_MB sets the image size (default 512).
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${DEMO_DIR:-$(mktemp -d /tmp/nitro-demo.XXXXXX)}
SIZE=${DEMO_SIZE_MB:-512}
nitro() { bin/nitro.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "two related VM images: a base OS and the same OS after installing a LAMP stack"
node fixtures/make-images.mjs "$DEMO/images" "$SIZE"

step "this node (site 'origin') adds both images: the variant stores only what differs"
export NITRO_HOME=$DEMO/origin
nitro init --site origin
nitro add "$DEMO/images/base.raw"
nitro add "$DEMO/images/lamp.raw"
nitro stats

step "three sites with links of different speeds and prices (SIMULATED: local directories, rate-limited)"
for s in lyon:400Mbit:0.09 paris:200Mbit:0.02 nice:100Mbit:0.01 rennes:1Gbit:0; do
  IFS=: read -r name rate cost <<<"$s"
  nitro --repo "$DEMO/$name" init --site "$name" --quiet
  nitro site add "$name" "$DEMO/$name" --simulate-rate "$rate" --egress-cost "$cost"
done

step "push: lyon and paris get the base image, nice gets the LAMP variant (only what it lacks)"
nitro push base --to lyon,paris
nitro push lamp --to nice

step "at site 'rennes', which holds nothing yet: probe the links, then plan the LAMP image"
export NITRO_HOME=$DEMO/rennes
for s in lyon:400Mbit:0.09 paris:200Mbit:0.02 nice:100Mbit:0.01; do
  IFS=: read -r name rate cost <<<"$s"
  nitro site add "$name" "$DEMO/$name" --simulate-rate "$rate" --egress-cost "$cost" --quiet
done
nitro probe --bytes 8M
nitro matrix
nitro plan lamp --svg "$DEMO/plan.svg"
echo "(plan drawn in $DEMO/plan.svg)"
step "for comparison: a mirror-like single source, and a random scheduler"
nitro plan lamp --strategy single-site 2>/dev/null | tail -1 || echo "single-site: no one site holds every chunk of lamp"
nitro plan lamp --strategy random | tail -1
step "and the cheapest plan instead of the fastest"
nitro plan lamp --objective cost | tail -1

step "pull at rennes: every source at once, chunks checked, image rebuilt"
nitro pull lamp -o "$DEMO/lamp.rennes.raw"
cmp "$DEMO/images/lamp.raw" "$DEMO/lamp.rennes.raw" && echo "identical to the original: $(du -h "$DEMO/lamp.rennes.raw" | cut -f1) allocated (sparse)"

step "where is each image now? every site is asked at once, one query each (pushes announced the recipes everywhere)"
nitro where

step "replicate (made for cron): lamp must also be at lyon and paris; the targets relay, each fetching a share and then the rest from each other"
nitro site sync --quiet
nitro replicate lamp --to lyon,paris
nitro where lamp
nitro replicate lamp --to lyon,paris && echo "second run: nothing to do, nothing said (exit 0)"

step "disk rot at rennes: 4 bytes of a pack overwritten; verify finds the chunks hit and the images they break"
pack=$(ls "$DEMO/rennes/packs/"*.pack | head -1)
printf '\xff\xff\xff\xff' | dd of="$pack" bs=1 seek=$(($(stat -c %s "$pack") / 2)) conv=notrunc status=none
nitro verify --read-data | head -4 || true
step "verify --repair: drop the damaged chunks, fetch good copies from the other sites (planned), verify again"
nitro verify --read-data --repair | grep -v '^  chunk'

step "retire base at lyon; gc there reclaims what only base used (lamp, announced there, keeps what it shares)"
nitro rm base --site lyon
nitro gc --site lyon
nitro where base

echo
echo "demo files are in $DEMO"
