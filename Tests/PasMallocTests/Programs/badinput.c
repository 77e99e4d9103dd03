// Bad input through the malloc API, run with libpasmalloc.so preloaded. Prints "ok" and exits 0
// when every documented result holds; otherwise prints the failed check and exits 1.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { printf("FAILED line %d: %s\n", __LINE__, #cond); failures++; } } while (0)
#define SHOW(value) printf("  %s = %zu\n", #value, (size_t)(value))

int main(void) {
    size_t (*ignored)(void) = (size_t (*)(void))dlsym(RTLD_DEFAULT, "pas_malloc_ignored_frees");
    int (*verify)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "pas_malloc_verify");
    CHECK(ignored != NULL && verify != NULL && dlsym(RTLD_DEFAULT, "pas_scavenge") != NULL);
    if (!ignored || !verify) return 1;

    free(NULL);
    void *z1 = malloc(0), *z2 = malloc(0);
    CHECK(z1 && z2 && z1 != z2);
    free(z1); free(z2);

    errno = 0;
    CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(1, SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(reallocarray(NULL, SIZE_MAX / 4, 8) == NULL && errno == ENOMEM);

    char *r = realloc(NULL, 10);
    CHECK(r != NULL);
    strcpy(r, "keep");
    errno = 0;
    CHECK(realloc(r, SIZE_MAX) == NULL && errno == ENOMEM && strcmp(r, "keep") == 0);
    CHECK(realloc(r, 0) == NULL);

    void *p = (void *)1;
    CHECK(posix_memalign(&p, 3, 10) == EINVAL && p == (void *)1);
    CHECK(posix_memalign(&p, 4, 10) == EINVAL);
    CHECK(posix_memalign(&p, 64, 100) == 0 && ((uintptr_t)p & 63) == 0);
    free(p);
    CHECK(posix_memalign(&p, 1 << 21, 5000) == 0 && ((uintptr_t)p & ((1 << 21) - 1)) == 0);
    free(p);
    void *a = aligned_alloc(4096, 5000);
    CHECK(a && ((uintptr_t)a & 4095) == 0 && malloc_usable_size(a) >= 5000);
    free(a);
    errno = 0;
    CHECK(aligned_alloc(24, 100) == NULL && errno == EINVAL);
    void *m = memalign(48, 100);
    CHECK(m && ((uintptr_t)m & 63) == 0);
    free(m);
    void *v = valloc(100);
    CHECK(v && ((uintptr_t)v & 4095) == 0);
    free(v);
    void *pv = pvalloc(100);
    CHECK(pv && ((uintptr_t)pv & 4095) == 0 && malloc_usable_size(pv) >= 4096);
    free(pv);

    size_t sizes[] = {1, 16, 2048, 2049, 16384, 16385, 655360, 655361, 5 << 20};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *q = malloc(sizes[i]);
        CHECK(q && malloc_usable_size(q) >= sizes[i]);
        memset(q, 0xAB, malloc_usable_size(q));
        free(q);
        char *c = calloc(1, sizes[i]);
        int zero = 1;
        for (size_t j = 0; j < sizes[i]; j++) if (c[j]) { zero = 0; break; }
        CHECK(zero);
        free(c);
    }
    CHECK(malloc_usable_size(NULL) == 0);

    // Foreign pointers: ignored, counted, nothing touched.
    size_t before = ignored();
    int local = 5;
    void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    free(&local);
    free(page);
    free((void *)0x1000);
    CHECK(ignored() == before + 3);
    CHECK(malloc_usable_size(&local) == 0);
    errno = 0;
    CHECK(realloc(&local, 10) == NULL && errno == ENOMEM && local == 5);

    // Double frees of bitfit and large objects: detected, ignored, counted.
    before = ignored();
    void *big = malloc(1 << 20), *marge = malloc(100000);
    free(big); free(big);
    free(marge); free(marge);
    size_t doubled = ignored() - before;
    CHECK(doubled == 2);
    if (doubled != 2) SHOW(doubled);
    // A double free of a small object before reuse does not hand the slot out twice.
    void *s = malloc(64);
    free(s); free(s);
    void *s1 = malloc(64), *s2 = malloc(64);
    CHECK(s1 != s2);
    free(s1); free(s2);

    // Interior frees of segregated (small and medium) objects: detected, ignored, counted;
    // the object stays live and is not handed out again.
    before = ignored();
    size_t interior_sizes[] = {16, 48, 64, 80, 100, 2048, 3000, 16384};
    unsigned interior_count = sizeof interior_sizes / sizeof interior_sizes[0];
    for (unsigned i = 0; i < interior_count; i++) {
        size_t n = interior_sizes[i];
        unsigned char *o = malloc(n);
        CHECK(o != NULL);
        memset(o, 0x5A, n);
        free(o + (n >= 32 ? 16 : 8));
        free(o + 1);
        unsigned char *again[4];
        for (int k = 0; k < 4; k++) { again[k] = malloc(n); CHECK(again[k] < o || again[k] >= o + n); }
        CHECK(o[0] == 0x5A && o[n - 1] == 0x5A);
        for (int k = 0; k < 4; k++) free(again[k]);
        free(o);
    }
    size_t interior = ignored() - before;
    CHECK(interior == 2 * interior_count);
    if (interior != 2 * interior_count) SHOW(interior);

    // Alignments that are too large (or, for posix_memalign and aligned_alloc, not powers of
    // two): EINVAL, never a block with a smaller alignment.
    size_t huge_alignments[] = {(size_t)1 << 63, SIZE_MAX, (size_t)1 << 40, ((size_t)1 << 30) * 2};
    for (unsigned i = 0; i < sizeof huge_alignments / sizeof huge_alignments[0]; i++) {
        size_t alignment = huge_alignments[i];
        errno = 0;
        CHECK(memalign(alignment, 100) == NULL && errno == EINVAL);
        errno = 0;
        CHECK(aligned_alloc(alignment, 100) == NULL && errno == EINVAL);
        p = (void *)1;
        CHECK(posix_memalign(&p, alignment, 100) == EINVAL && p == (void *)1);
    }
    p = (void *)1;
    CHECK(posix_memalign(&p, 24, 100) == EINVAL && p == (void *)1);
    errno = 0;
    CHECK(aligned_alloc(3, 100) == NULL && errno == EINVAL);
    p = NULL;
    CHECK(posix_memalign(&p, (size_t)1 << 30, 100) == 0 && ((uintptr_t)p & (((size_t)1 << 30) - 1)) == 0);
    free(p);

    CHECK(verify() == 0);
    if (failures) return 1;
    printf("ok\n");
    return 0;
}
