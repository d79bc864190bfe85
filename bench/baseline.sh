#!/usr/bin/env bash
# Makes the other checkout bench:proxy compares against (BENCH_BASELINE): a git worktree of REF in DIR
# (default: a new temp dir), node_modules linked to this checkout's (no install), built with tsc.
# Prints the BENCH_BASELINE=… to run the bench with. Remove it afterwards with
# `git worktree remove --force DIR`.
#   bench/baseline.sh REF [DIR]
#   BENCH_BASELINE=DIR npm run bench:proxy
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: bench/baseline.sh REF [DIR]" >&2
  exit 2
fi
ref=$1
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
commit=$(git -C "$root" rev-parse --verify --quiet "$ref^{commit}") || {
  echo "baseline: $ref is not a commit of $root" >&2
  exit 1
}
modules=$(readlink -f "$root/node_modules" || true)
if [ ! -d "$modules" ]; then
  echo "baseline: $root/node_modules is missing (npm install in this checkout first)" >&2
  exit 1
fi

dir=${2:-}
if [ -z "$dir" ]; then
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tsmesh-baseline-XXXXXX")
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)

if [ -e "$dir/.git" ]; then
  # An earlier run's worktree: reuse it only when it holds the same commit.
  have=$(git -C "$dir" rev-parse HEAD)
  if [ "$have" != "$commit" ]; then
    echo "baseline: $dir is a checkout of ${have:0:7}, not of $ref (${commit:0:7}); choose another DIR" >&2
    exit 1
  fi
elif [ -n "$(ls -A "$dir")" ]; then
  echo "baseline: $dir is not empty and not a worktree" >&2
  exit 1
else
  git -C "$root" worktree add --detach "$dir" "$commit" >&2
fi

[ -e "$dir/node_modules" ] || ln -s "$modules" "$dir/node_modules"
echo "baseline: building ${commit:0:7} in $dir" >&2
(cd "$dir" && npx tsc -p tsconfig.json)
if [ ! -f "$dir/dist/src/cli/bin.js" ]; then
  echo "baseline: the build made no dist/src/cli/bin.js" >&2
  exit 1
fi
echo "BENCH_BASELINE=$dir"
