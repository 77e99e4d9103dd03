// The JIT churn workload of pas-bench, run against asmjit's JitAllocator (dual mapping
// enabled, as JITHeap's default). Built by pas-bench at run time when libasmjit-dev is
// installed; prints nanoseconds per step.
#include <asmjit/core.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

using namespace asmjit;

static uint64_t state = 0x717 | 1;
static uint64_t next_random() {
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    return state * 2685821657736338717ull;
}
static int log_uniform(int lo, int hi) {
    double a = std::log2((double)lo), b = std::log2((double)hi);
    double u = (double)(next_random() >> 11) / (double)(1ull << 53);
    int v = (int)std::exp2(a + (b - a) * u);
    return v < lo ? lo : (v > hi ? hi : v);
}
static uint64_t now_ns() {
    timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char** argv) {
    long ops = argc > 1 ? atol(argv[1]) : 1000000;
    JitAllocator::CreateParams params {};
    params.options = JitAllocatorOptions::kUseDualMapping;
    JitAllocator allocator(&params);
    const int slots = 256;
    void* table[slots] = {};
    unsigned char code[256];
    memset(code, 0x90, sizeof code);
    code[255] = 0xC3;
    uint64_t start = now_ns();
    for (long i = 0; i < ops; i++) {
        int k = (int)(next_random() % slots);
        if (table[k]) allocator.release(table[k]);
        int size = log_uniform(32, 64 << 10);
        void *rx = nullptr, *rw = nullptr;
        if (allocator.alloc(&rx, &rw, (size_t)size) != kErrorOk) { fprintf(stderr, "alloc failed\n"); return 1; }
        int n = size < 256 ? size : 256;
        memcpy(rw, code + (256 - n), (size_t)n);
        __builtin___clear_cache((char*)rx, (char*)rx + n);
        if ((i & 3) == 0) allocator.shrink(rx, (size_t)(n > size / 2 ? n : size / 2));
        table[k] = rx;
    }
    uint64_t elapsed = now_ns() - start;
    for (int k = 0; k < slots; k++) if (table[k]) allocator.release(table[k]);
    printf("%.3f\n", (double)elapsed / (double)ops);
    return 0;
}
