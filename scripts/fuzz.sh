#!/usr/bin/env bash
# Fuzzes JITHeap, PasHeap and the malloc paths with libFuzzer and AddressSanitizer.
#
# Builds the sequence interpreter (Tests/PasFuzz, the same one PasFuzzTests runs from fixed
# seeds) and the libraries under it with coverage instrumentation and ASan into .build-fuzz,
# links it with libFuzzer's main (`swiftc -sanitize=fuzzer,address`), and runs it.
#
#   scripts/fuzz.sh                  # 120 seconds, corpus in .build-fuzz/corpus
#   scripts/fuzz.sh 600              # ten minutes
#   scripts/fuzz.sh 0 .build-fuzz/crash-<hash>   # replay one input (0: no time limit; extra arguments go to libFuzzer)
#
# A failed check prints "pas-fuzz: <target>: step N (<operation>): <problem>" and aborts;
# libFuzzer saves the input as .build-fuzz/crash-<hash>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
shift || true
scratch=.build-fuzz
jobs=${PAS_FUZZ_JOBS:-2}

# Compile only (no link), with ASan checks and libFuzzer's coverage counters. swiftc keeps only
# its last -sanitize= flag, so both sanitizers go in one (SwiftPM's --sanitize passes one each).
swift build --scratch-path "$scratch" --target PasFuzz --sanitize=address -j "$jobs" \
    -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link
bin=$(swift build --scratch-path "$scratch" --show-bin-path)

objects=()
for target in PasFuzz PasJIT Pas PasSystem CPasShim; do
    for object in "$bin/$target.build"/*.o; do objects+=("$object"); done
done
swiftc=$(command -v swiftc || echo "$(dirname "$(readlink -f "$(command -v swift)")")/swiftc")
"$swiftc" -sanitize=fuzzer,address -o "$scratch/pas-fuzz" "${objects[@]}"

mkdir -p "$scratch/corpus"
# Start from a few long random inputs too: libFuzzer's own start (a few bytes, growing slowly)
# takes minutes to reach sequences long enough to fill and empty pages.
if [ -z "$(ls -A "$scratch/corpus")" ]; then
    for i in 1 2 3 4; do head -c 3000 /dev/urandom > "$scratch/corpus/random-$i"; done
fi
args=(-max_len=4096 -len_control=0 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$scratch/")
if [ "$seconds" != 0 ]; then args+=(-max_total_time="$seconds"); fi
if [ $# -gt 0 ]; then
    exec "$scratch/pas-fuzz" "${args[@]}" "$@"
fi
exec "$scratch/pas-fuzz" "${args[@]}" "$scratch/corpus"
