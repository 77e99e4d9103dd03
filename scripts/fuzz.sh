#!/usr/bin/env bash
# Fuzzes JITHeap, PasHeap and the malloc paths with libFuzzer and AddressSanitizer.
#
# Builds the sequence interpreter (Tests/PasFuzz, the same one PasFuzzTests runs from fixed
# seeds) and the libraries under it with coverage instrumentation and ASan into .build-fuzz,
# links it with libFuzzer's main (`swiftc -sanitize=fuzzer,address`), and runs it.
#
#   scripts/fuzz.sh                  # 120 seconds, corpus in .build-fuzz/corpus
#   scripts/fuzz.sh 600              # ten minutes
#   scripts/fuzz.sh 0 crash-<hash>   # replay one input (0: no time limit; extra arguments go to libFuzzer)
#
# A failed check prints "pas-fuzz: <target>: step N (<operation>): <problem>" and aborts;
# libFuzzer saves the input as crash-<hash> in the current directory.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
shift || true
scratch=.build-fuzz
jobs=${PAS_FUZZ_JOBS:-2}

# Compile only (no link): SwiftPM instruments Swift and C alike with these sanitizers.
swift build --scratch-path "$scratch" --target PasFuzz --sanitize=fuzzer --sanitize=address -j "$jobs"
bin=$(swift build --scratch-path "$scratch" --show-bin-path)

objects=()
for target in PasFuzz PasJIT Pas PasSystem CPasShim; do
    for object in "$bin/$target.build"/*.o; do objects+=("$object"); done
done
swiftc=$(command -v swiftc || echo "$(dirname "$(readlink -f "$(command -v swift)")")/swiftc")
"$swiftc" -sanitize=fuzzer,address -o "$scratch/pas-fuzz" "${objects[@]}"

mkdir -p "$scratch/corpus"
args=(-max_len=4096 -timeout=30 -rss_limit_mb=4096 -print_final_stats=1)
if [ "$seconds" != 0 ]; then args+=(-max_total_time="$seconds"); fi
if [ $# -gt 0 ]; then
    exec "$scratch/pas-fuzz" "${args[@]}" "$@"
fi
exec "$scratch/pas-fuzz" "${args[@]}" "$scratch/corpus"
