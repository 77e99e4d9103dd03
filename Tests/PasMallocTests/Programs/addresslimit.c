// Run with libpasmalloc.so preloaded under an address-space limit (ulimit -v 4000000): keeps
// 2 GiB live in blocks of every region's sizes and churns 1 GiB through malloc and free, as a
// program does with glibc under the same limit. Prints "ok" and exits 0 when every block was
// allocated and kept its contents; otherwise prints the failed check and exits 1.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { printf("FAILED line %d: %s\n", __LINE__, #cond); failures++; } } while (0)

struct kind { size_t size, count; };

int main(void) {
    // 2 GiB live: 256 MiB of 256-byte blocks, 256 MiB of 4 KiB, 512 MiB of 64 KiB, 1 GiB of 1 MiB.
    const struct kind kinds[] = {
        {256, (size_t)1 << 20}, {4096, (size_t)1 << 16}, {65536, (size_t)1 << 13}, {(size_t)1 << 20, (size_t)1 << 10},
    };
    unsigned char **live[4];
    for (int k = 0; k < 4; k++) {
        live[k] = malloc(kinds[k].count * sizeof(void *));
        CHECK(live[k] != NULL);
        if (!live[k]) return 1;
        for (size_t i = 0; i < kinds[k].count; i++) {
            unsigned char *p = malloc(kinds[k].size);
            if (!p) {
                printf("FAILED: malloc(%zu) number %zu returned NULL\n", kinds[k].size, i);
                return 1;
            }
            // One byte per page and the last byte, so that the memory is really used.
            for (size_t o = 0; o < kinds[k].size; o += 4096) p[o] = (unsigned char)(i + k);
            p[kinds[k].size - 1] = (unsigned char)(i + k);
            live[k][i] = p;
        }
    }
    // Churn 1 GiB: 256 KiB blocks and 1 KiB blocks, allocated and freed in batches.
    size_t churned = 0;
    void *batch[64];
    while (churned < ((size_t)1 << 30)) {
        size_t size = (churned / 4096) % 2 ? 1024 : 262144;
        for (int j = 0; j < 64; j++) {
            batch[j] = malloc(size);
            if (!batch[j]) {
                printf("FAILED: churn malloc(%zu) after %zu bytes returned NULL\n", size, churned);
                return 1;
            }
            memset(batch[j], j, size);
            churned += size;
        }
        for (int j = 0; j < 64; j++) free(batch[j]);
    }
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < kinds[k].count; i++) {
            unsigned char *p = live[k][i];
            CHECK(p[0] == (unsigned char)(i + k) && p[kinds[k].size - 1] == (unsigned char)(i + k));
            if (failures > 10) return 1;
            free(p);
        }
        free(live[k]);
    }
    if (failures) return 1;
    printf("ok\n");
    return 0;
}
