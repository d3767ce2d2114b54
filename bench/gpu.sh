#!/usr/bin/env bash
# The GPU backend on a machine with a GPU, in one command (under 8 minutes):
#
#   bench/gpu.sh [OUT]        (CIRC=path/to/circ to use a prebuilt binary)
#
# 1. probes Vulkan (the loader, its drivers, and a device circ can use:
#    shaderFloat64, shaderInt64, bufferDeviceAddress, f64 float controls;
#    the device and its subgroup size as summary.json names them)
#    and stops with a clear message where one is missing;
# 2. a precision self-test (bench/precision.circ): a million (a, b) pairs
#    over the whole range of doubles through division, sqrt, a * b - a * b
#    and subnormal products, byte-identical with the interpreter (correct
#    rounding, no fused multiply-add, subnormals kept);
# 3. differential tests: every example the GPU backend runs, 30 ms, every
#    recorded file byte-identical with the interpreter's;
# 4. benchmarks: COBA, Brunel and the Potjans-Diesmann microcircuit (full
#    scale) on the GPU and on the CPU (LLVM, all cores) in the same run; a
#    table of wall time per biological second (real-time factor) and
#    synaptic events per second, also written to OUT/gpu_table.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-/tmp/circ-gpu}}
mkdir -p "$OUT"
CIRC=${CIRC:-}
if [ -z "$CIRC" ]; then
    if [ -x target/release/circ ]; then
        CIRC=target/release/circ
    else
        echo "== building circ (release)"
        cargo build --release -q || { echo "error: cannot build circ; set CIRC=path/to/circ"; exit 2; }
        CIRC=target/release/circ
    fi
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

echo "== 1. Vulkan"
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
    echo "error: no Vulkan loader (libvulkan.so.1): install libvulkan1 (Debian/Ubuntu) and the GPU's driver"
    exit 2
fi
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null | sed 's/^/   /'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/   /'
if ! "$CIRC" run --backend gpu --duration 1ms --out "$OUT/probe" examples/lif_step.circ >"$OUT/probe.log" 2>&1; then
    echo "error: the GPU backend cannot run here:"
    sed 's/^/   /' "$OUT/probe.log"
    exit 2
fi
grep -o '"backend": "[^"]*"' "$OUT/probe/summary.json" | sed 's/^/   /'

# Runs FILE on the GPU and on the interpreter with ARGS; 0 when every
# recorded file is the same bytes, 3 when the GPU refuses the model.
same() {
    local file=$1 name=$2; shift 2
    rm -rf "$OUT/diff-$name-gpu" "$OUT/diff-$name-ref"
    if ! "$CIRC" run --backend gpu --out "$OUT/diff-$name-gpu" "$@" "$file" >"$OUT/diff-$name.log" 2>&1; then
        grep -q "not on the GPU yet" "$OUT/diff-$name.log" && return 3
        cat "$OUT/diff-$name.log"
        return 1
    fi
    "$CIRC" run --backend interp --out "$OUT/diff-$name-ref" "$@" "$file" >/dev/null 2>&1 || return 1
    local bad=0
    for f in "$OUT/diff-$name-ref"/*; do
        local b
        b=$(basename "$f")
        [ "$b" = summary.json ] && continue
        cmp -s "$f" "$OUT/diff-$name-gpu/$b" || { echo "   $name: $b differs"; bad=1; }
    done
    return $bad
}

echo "== 2. precision self-test (10^6 pairs: division, sqrt, no FMA, subnormals)"
if same bench/precision.circ precision; then
    echo "   ok: byte-identical with the interpreter"
else
    echo "   FAILED: the device does not compute IEEE f64 as circ needs"
    exit 1
fi

echo "== 3. differential tests (every example the GPU runs, 30 ms)"
failed=0
for f in examples/*.circ; do
    name=$(basename "$f" .circ)
    extra=(--duration 30ms)
    [ "$name" = pd14 ] && extra+=(--set scale=0.05)
    same "$f" "$name" "${extra[@]}"
    case $? in
        0) echo "   same   $name" ;;
        3) echo "   (not yet on the GPU) $name" ;;
        *) echo "   DIFFERS $name"; failed=1 ;;
    esac
done

echo "== 4. benchmarks"
row() {
    local label=$1 backend=$2 file=$3; shift 3
    local dir="$OUT/bench-$label-$backend"
    rm -rf "$dir"
    if ! "$CIRC" run --backend "$backend" --out "$dir" "$@" "$file" >"$dir.log" 2>&1; then
        printf '| %s | %s | failed: %s |  |  |  |\n' "$label" "$backend" "$(tail -1 "$dir.log")"
        return
    fi
    python3 - "$dir/summary.json" "$label" "$backend" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
loop, bio = s["loop_seconds"], s["duration_s"]
ev = s.get("synaptic_events", 0)
rate = sum(p["spikes"] for p in s["populations"].values()) / max(bio, 1e-12) / max(sum(p["size"] for p in s["populations"].values()), 1)
print(f"| {sys.argv[2]} | {s['backend']} | {s['build_seconds']:.2f} | {loop:.3f} | {loop / bio:.3f} | {ev / loop:.3g} | {rate:.2f} |")
EOF
}
{
    echo "| model | backend | build s | loop s | real-time factor | synaptic events/s | mean rate Hz |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for backend in gpu llvm; do
        row coba "$backend" examples/coba.circ --duration 1s
        row brunel "$backend" examples/brunel2000.circ --duration 1s
        row pd14 "$backend" examples/pd14.circ --set scale=1 --duration 1s
    done
} | tee "$OUT/gpu_table.md"
echo "anchors: PD14 on NEST (128 cores) real-time factor 0.67; GeNN on an RTX 4090 0.27 (about 3.6e9 synaptic events/s)"
exit $failed
