#!/usr/bin/env bash
# The nitro demo: related images, deduplicated, rebuilt byte for byte.
# Runs on local directories only (no configuration, no SSH). DEMO_DIR keeps its files.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${DEMO_DIR:-$(mktemp -d /tmp/nitro-demo.XXXXXX)}
nitro() { node bin/nitro.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
export NITRO_HOME=$DEMO/home

step "two related VM images: a base OS and the same OS after installing a LAMP stack"
node fixtures/make-images.mjs "$DEMO/images" 1024
ls -lsh "$DEMO/images"

step "nitro init: a repository for this node (site 'local')"
nitro init --site local

step "nitro add: the base image is cut into content-defined chunks and stored compressed"
nitro add "$DEMO/images/base.raw"
step "nitro add: the LAMP variant stores only what differs"
nitro add "$DEMO/images/lamp.raw"

step "nitro ls / stats"
nitro ls
nitro stats

step "nitro export: rebuild the LAMP image, verified chunk by chunk and as a whole"
nitro export lamp -o "$DEMO/lamp.rebuilt.raw"
cmp "$DEMO/images/lamp.raw" "$DEMO/lamp.rebuilt.raw" && echo "identical: $(du -h "$DEMO/lamp.rebuilt.raw" | cut -f1) allocated, sparse like the original"

echo
echo "demo files are in $DEMO"
