#!/usr/bin/env bash
# Runs the concurrency tests under ThreadSanitizer and the suite under AddressSanitizer, each
# in its own scratch path (.build-tsan, .build-asan).
#
#   scripts/sanitizers.sh          # both
#   scripts/sanitizers.sh thread   # TSan only
#   scripts/sanitizers.sh address  # ASan only
#   scripts/sanitizers.sh ci       # both, ASan without the toy JIT's tests (.ci/run's budget)
#
# Left out, and why:
# - PreloadTests (both): they preload libpasmalloc.so into other programs (ls, sort, python3,
#   cc, fork-using C programs); a sanitized library needs its runtime loaded first in each of
#   them, and replacing malloc under a sanitizer that intercepts malloc itself is meaningless.
# - CProgramTests, CLayoutTests (ASan): they link uninstrumented C programs against the
#   instrumented libPasC.so, which then refuses to load without the ASan runtime first.
# - PasBenchTests (ASan): they run the pas-bench and object-heaps executables for timing
#   shapes, nothing a sanitizer adds to; the same code runs in the heap tests.
# TSan runs the tests whose point is threads: the stress, race, churn and scavenger-thread
# suites, the JIT and C API multi-thread tests, and the fuzz sequences.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${PAS_SANITIZER_JOBS:-2}
which=${1:-all}

tsan_filter='BitfitStressTests|SegregatedStressTests|ScavengerRaceTests|LargeHeapPartialPageRaceTests'
tsan_filter+='|SegregatedThreadChurnTests|SegregatedRingGrowthTests|ScavengerThreadTests|ColdStartTests|PageLockRaceTests|SegregatedChaosTests|StaleLogTests'
tsan_filter+='|handoffLockExcludes|threadsAllocateWriteRunFree|concurrentAllocateWriteFree|errorsStayOnTheirThread|FuzzSequenceTests'
# Timing: under TSan's slowdown the page-sharing pool's scavenger (300 ms delay) decommits pages
# between the test's statistics snapshot and its own decommit call.
tsan_skip='shortLivedThreadsLeaveNoOwnedPagesBehind'
# CageLimitTests, RegionLimitTests: they run the tests under ulimit -v, where ASan cannot map its shadow.
asan_skip='PreloadTests|CProgramTests|CLayoutTests|PasBenchTests|ObjectHeapsExampleTests|CageLimitTests|RegionLimitTests'

if [ "$which" = ci ]; then
    # The toy JIT example's compiler tests (native runs, QEMU, disassembly) exercise no
    # library path the other suites miss; leaving them out keeps .ci/run's step near 8 minutes.
    asan_skip+='|ToyJITTests'
fi

if [ "$which" = all ] || [ "$which" = ci ] || [ "$which" = thread ]; then
    # halt_on_error: a report fails the run instead of scrolling past.
    TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/scripts/tsan.supp ${TSAN_OPTIONS:-}" \
        swift test --sanitize=thread --scratch-path .build-tsan -j "$jobs" --filter "$tsan_filter" --skip "$tsan_skip"
fi
if [ "$which" = all ] || [ "$which" = ci ] || [ "$which" = address ]; then
    # detect_leaks=0: heaps, caches and the page-sharing pool live for the process by design.
    # handle_segv/sigbus/sigill=0: the stale-call tests expect forked children to die by the
    # signal a call into freed code raises; ASan's own handler would report and exit instead.
    ASAN_OPTIONS="detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigill=0 ${ASAN_OPTIONS:-}" \
        swift test --sanitize=address --scratch-path .build-asan -j "$jobs" --skip "$asan_skip"
fi
