// Preloaded after libpasmalloc.so by PreloadTests: when the program exits, appends one line
// to the file named by $PAS_PROBE_OUT with what Pas itself counted (pas_malloc_statistics,
// found with dlsym) and which library the program's malloc resolves to. So a comparison
// test can tell that Pas served the program, not only that the output matched.
//
// Line: "probe pid <pid> values <n> live <bytes> segregated <objects> bitfit <objects>
//        large <objects> committed <bytes> ignored <frees> malloc <library path>"
// (n = 0: pas_malloc_statistics is missing or the heap was never created).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((destructor)) static void pas_probe_report(void) {
    const char *path = getenv("PAS_PROBE_OUT");
    if (!path) return;
    size_t (*statistics)(uint64_t *, size_t) = (size_t (*)(uint64_t *, size_t))dlsym(RTLD_DEFAULT, "pas_malloc_statistics");
    uint64_t v[6] = { 0 };
    size_t n = statistics ? statistics(v, 6) : 0;
    Dl_info info;
    const char *owner = "?";
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (m && dladdr(m, &info) && info.dli_fname) owner = info.dli_fname;
    // A stack buffer and write(2): no allocation while the program is going away.
    char line[1024];
    int length = snprintf(line, sizeof line,
                          "probe pid %d values %zu live %llu segregated %llu bitfit %llu large %llu committed %llu ignored %llu malloc %s\n",
                          (int)getpid(), n, (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
                          (unsigned long long)v[3], (unsigned long long)v[4], (unsigned long long)v[5], owner);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    if (length > 0) (void)!write(fd, line, (size_t)length < sizeof line ? (size_t)length : sizeof line - 1);
    close(fd);
}
