// The bootstrap arena: the memory the malloc library serves before its heap is published (and
// to nested calls in debug builds). A bump pointer in one 64 MiB private mapping, made on first
// use; lock-free; blocks are never reused.
#ifndef PAS_MALLOC_BOOTSTRAP_ARENA_H
#define PAS_MALLOC_BOOTSTRAP_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A block of `size` bytes (0 counts as 1) aligned to `alignment` (a power of two, at most
/// 1 MiB) from the 64 MiB arena, mapped on first use; never reused. NULL with errno ENOMEM when
/// exhausted. Any thread; a compare-and-swap loop on the arena's cursor.
void *pas_malloc_bootstrap_allocate(size_t size, size_t alignment);

/// True if `pointer` lies in the bootstrap arena. One load and a compare.
bool pas_malloc_bootstrap_contains(const void *pointer);

/// The size a bootstrap block was allocated with (clamped to the arena); 0 for a pointer
/// outside the arena.
size_t pas_malloc_bootstrap_size(const void *pointer);

#ifdef __cplusplus
}
#endif

#endif
