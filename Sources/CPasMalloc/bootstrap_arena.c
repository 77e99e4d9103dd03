#include "pas_malloc_bootstrap_arena.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#define ARENA_BYTES ((size_t)64 << 20)
// Each block is preceded by a 16-byte header whose first word is the block's size.
#define HEADER_BYTES ((size_t)16)

// 0 until the first allocation maps the arena (one CAS wins; a loser unmaps its mapping).
static uintptr_t arena_base = 0;
// Offset of the first unallocated byte; only grows (CAS).
static size_t arena_cursor = 0;

void *pas_malloc_bootstrap_allocate(size_t size, size_t alignment) {
    if (alignment < 16) alignment = 16;
    if (size == 0) size = 1;
    if (size > ARENA_BYTES || alignment > ((size_t)1 << 20) || (alignment & (alignment - 1))) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t base = __atomic_load_n(&arena_base, __ATOMIC_ACQUIRE);
    if (!base) {
        void *raw = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) { errno = ENOMEM; return NULL; }
        uintptr_t expected = 0;
        if (__atomic_compare_exchange_n(&arena_base, &expected, (uintptr_t)raw, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            base = (uintptr_t)raw;
        } else {
            munmap(raw, ARENA_BYTES);
            base = expected;
        }
    }
    for (;;) {
        size_t offset = __atomic_load_n(&arena_cursor, __ATOMIC_RELAXED);
        size_t object = (offset + HEADER_BYTES + alignment - 1) & ~(alignment - 1);
        if (object > ARENA_BYTES || size > ARENA_BYTES - object) { errno = ENOMEM; return NULL; }
        size_t end = (object + size + 15) & ~(size_t)15;
        if (__atomic_compare_exchange_n(&arena_cursor, &offset, end, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            // [object - 16, end) belongs to this call alone; the size word precedes the block.
            *(size_t *)(base + object - HEADER_BYTES) = size;
            return (void *)(base + object);
        }
    }
}

bool pas_malloc_bootstrap_contains(const void *pointer) {
    uintptr_t base = __atomic_load_n(&arena_base, __ATOMIC_ACQUIRE);
    return base && (uintptr_t)pointer - base < ARENA_BYTES;
}

size_t pas_malloc_bootstrap_size(const void *pointer) {
    uintptr_t base = __atomic_load_n(&arena_base, __ATOMIC_ACQUIRE);
    size_t offset = (uintptr_t)pointer - base;
    if (!base || offset < HEADER_BYTES || offset >= ARENA_BYTES) return 0;
    size_t recorded;
    __builtin_memcpy(&recorded, (const char *)pointer - HEADER_BYTES, sizeof recorded);
    size_t room = ARENA_BYTES - offset;
    return recorded < room ? recorded : room;
}
