#!/usr/bin/env bash
# Hashes every output file of every example and test model, so two builds
# can be compared byte for byte (what a refactoring must not change):
#   bench/output_hashes.sh target/release/circ /tmp/a   # writes /tmp/a.sums
#   diff /tmp/a.sums /tmp/b.sums
# Each model runs on the JIT (1 thread; 2 threads with every kernel split,
# 100 ms) and on the interpreter (30 ms).
set -u
CIRC=$(realpath "$1"); OUT=$2
cd "$(dirname "$0")/.."
rm -rf "$OUT"; mkdir -p "$OUT"
for m in examples/*.circ compiler/circ/tests/data/*.circ; do
  t=$(basename "$m" .circ)
  "$CIRC" run --backend jit --threads 1 --duration "100 ms" --out "$OUT/$t.jit1" "$m" >/dev/null 2>"$OUT/$t.jit1.err" || echo "FAIL jit1 $t"
  CIRC_MIN_PARALLEL=1 "$CIRC" run --backend jit --threads 2 --duration "100 ms" --out "$OUT/$t.jit2" "$m" >/dev/null 2>"$OUT/$t.jit2.err" || echo "FAIL jit2 $t"
  "$CIRC" run --backend interp --duration "30 ms" --out "$OUT/$t.interp" "$m" >/dev/null 2>"$OUT/$t.interp.err" || echo "FAIL interp $t"
done
(cd "$OUT" && find . -type f ! -name summary.json ! -name '*.err' | sort | xargs sha256sum) > "$OUT.sums"
echo "wrote $OUT.sums"
