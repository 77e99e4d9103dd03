// The JIT workloads of pas-bench (see JITWorkloads.swift for the shapes), run against
// asmjit's JitAllocator with dual mapping enabled, as JITHeap's default. Built by pas-bench
// at run time when libasmjit-dev is installed. Usage: asmjit_peer SHAPE OPS; prints the
// result (ns per operation, or RSS in MiB for the rss shape).
#include <asmjit/core.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>
#include <unistd.h>

using namespace asmjit;

static uint64_t state = 0x717 | 1;
static uint64_t next_random() {
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    return state * 2685821657736338717ull;
}
static int uniform(int lo, int hi) { return lo + (int)(next_random() % (uint64_t)(hi - lo + 1)); }
static uint64_t now_ns() {
    timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static double rss_mib() {
    long pages = 0, resident = 0;
    FILE* f = fopen("/proc/self/statm", "r");
    if (f) { if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0; fclose(f); }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static unsigned char code[4096];
#if defined(__aarch64__)
static const unsigned char stub42[] = {0x40, 0x05, 0x80, 0x52, 0xC0, 0x03, 0x5F, 0xD6};
#else
static const unsigned char stub42[] = {0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3};
#endif

int main(int argc, char** argv) {
    if (argc < 3) { fprintf(stderr, "usage: asmjit_peer SHAPE OPS\n"); return 2; }
    const char* shape = argv[1];
    long ops = atol(argv[2]);
    JitAllocator::CreateParams params {};
    params.options = JitAllocatorOptions::kUseDualMapping;
    JitAllocator allocator(&params);
    memset(code, 0x90, sizeof code);
    code[4095] = 0xC3;

    auto install = [&](const unsigned char* bytes, int n) -> void* {
        void *rx = nullptr, *rw = nullptr;
        if (allocator.alloc(&rx, &rw, (size_t)n) != kErrorOk) { fprintf(stderr, "alloc failed\n"); exit(1); }
        memcpy(rw, bytes, (size_t)n);
        __builtin___clear_cache((char*)rx, (char*)rx + n);
        return rx;
    };

    if (!strcmp(shape, "publish")) {
        uint64_t start = now_ns();
        for (long i = 0; i < ops; i++) {
            void* rx = install(stub42, (int)sizeof stub42);
            if (((int (*)(void))rx)() != 42) { fprintf(stderr, "bad stub\n"); return 1; }
            allocator.release(rx);
        }
        printf("%.3f\n", (double)(now_ns() - start) / (double)ops);
        return 0;
    }
    if (!strcmp(shape, "rss-mib")) {
        std::vector<void*> blocks;
        blocks.reserve((size_t)ops);
        for (long i = 0; i < ops; i++) { int n = uniform(16, 1024); blocks.push_back(install(code + 4096 - n, n)); }
        for (long i = 0; i < ops * 9 / 10; i++) allocator.release(blocks[(size_t)i]);
        printf("%.3f\n", rss_mib());
        return 0;
    }
    int lo = 16, hi = 256;
    if (!strcmp(shape, "churn-medium")) { lo = 32; hi = 4096; }
    else if (strcmp(shape, "churn-small")) { fprintf(stderr, "unknown shape %s\n", shape); return 2; }
    const int slots = 4096;
    std::vector<void*> table(slots, nullptr);
    uint64_t start = now_ns();
    for (long i = 0; i < ops; i++) {
        int k = (int)(next_random() % slots);
        if (table[k]) allocator.release(table[k]);
        int n = uniform(lo, hi);
        void* rx = install(code + 4096 - n, n);
        if ((i & 3) == 0) allocator.shrink(rx, (size_t)(n / 2 > 0 ? n / 2 : 1));
        table[k] = rx;
    }
    uint64_t elapsed = now_ns() - start;
    for (int k = 0; k < slots; k++) if (table[k]) allocator.release(table[k]);
    printf("%.3f\n", (double)elapsed / (double)ops);
    return 0;
}
