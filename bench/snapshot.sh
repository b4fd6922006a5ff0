#!/bin/sh
# Builds bt-actor at a commit into its own folder, to benchmark with `--bt-dir DIR` while the
# working tree (and its dist/) changes, or to compare two commits:
#   bench/snapshot.sh [REV] [DIR]      REV default HEAD; DIR default /tmp/bt-actor-<sha>; prints DIR
# The folder shares this checkout's node_modules (a symlink) and records the commit in .bench-commit.
set -eu
REV=${1:-HEAD}
ROOT=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
SHA=$(git -C "$ROOT" rev-parse --short=12 "$REV")
DIR=${2:-/tmp/bt-actor-$SHA}
rm -rf "$DIR"
mkdir -p "$DIR"
git -C "$ROOT" archive "$SHA" | tar -x -C "$DIR"
ln -s "$ROOT/node_modules" "$DIR/node_modules"
(cd "$DIR" && "$ROOT/node_modules/.bin/tsc" -p tsconfig.build.json && { [ ! -f scripts/build-cli.mjs ] || node scripts/build-cli.mjs; }) >&2
echo "$SHA" > "$DIR/.bench-commit"
echo "$DIR"
