#!/usr/bin/env bash
# B's CPU per request over A's, measured side by side twice with the sides swapped, and their
# geometric mean: concurrent-pair.sh's two sides are not quite alike (which pair runs in which
# address block and starts first), and one orientation read up to 8 points apart from the other in
# the same session (telemetry vs mTLS: 116.7% one way, 125.2% the other). The mean of the two cancels
# that bias; the spread between them says how far to trust it.
#   bench/profiling/pair-ratio.sh CONFIG_A CONFIG_B [WINDOWS]     (ROOT_A/ROOT_B, OFF_A/OFF_B, ARGS_A/ARGS_B as concurrent-pair.sh)
set -euo pipefail
a=${1:?usage: pair-ratio.sh CONFIG_A CONFIG_B [WINDOWS]}
b=${2:?usage: pair-ratio.sh CONFIG_A CONFIG_B [WINDOWS]}
n=${3:-10}
here=$(dirname "$0")
log=$(mktemp "${TMPDIR:-/tmp}/pair-ratio-XXXXXX")
trap 'rm -f "$log"' EXIT
# (Each run's report goes to a file, then to stderr: a tee to /dev/stderr would truncate a log file stderr is redirected to.)
pooled() { cat "$log" >&2; sed -n 's/.*pooled \([0-9.]*\)%.*/\1/p' "$log" | tail -1; }
# A then B in the first run; the second swaps everything that names a side.
"$here/concurrent-pair.sh" "$a" "$b" "$n" >"$log"
first=$(pooled)
# (Read both sides first: in `X=$Y Y=$X cmd` the second expansion already sees the new X, which
# gave both sides B's settings.)
root_a=${ROOT_A:-} root_b=${ROOT_B:-} off_a=${OFF_A:-} off_b=${OFF_B:-} args_a=${ARGS_A:-} args_b=${ARGS_B:-}
ROOT_A=$root_b ROOT_B=$root_a OFF_A=$off_b OFF_B=$off_a ARGS_A=$args_b ARGS_B=$args_a \
  "$here/concurrent-pair.sh" "$b" "$a" "$n" >"$log"
second=$(pooled)
[ -n "$first" ] && [ -n "$second" ] || { echo "pair-ratio: a run printed no pooled ratio (see above)" >&2; exit 1; }
node -e '
  const [x, y] = [Number(process.argv[1]), 100 * 100 / Number(process.argv[2])];
  console.log(`B/A: ${x.toFixed(1)}% as given, ${y.toFixed(1)}% with the sides swapped; geometric mean ${Math.sqrt(x * y).toFixed(1)}%`);
' "$first" "$second"
