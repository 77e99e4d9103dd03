/*
 * Pas C API: general heaps — malloc-like memory for any size, with every bad call reported.
 *
 * A pas_heap reserves one range of address space (its cage) and serves every request from
 * inside it, routing by size:
 *
 *   1 ... 2048 bytes       small segregated heap (size classes, 16 KiB pages)
 *   2049 ... 16384         medium segregated heap (size classes, 128 KiB pages)
 *   16385 ... 655360       bitfit ("marge") heap (4 KiB granules)
 *   above                  large heap (4 KiB granules)
 *
 * Alignments above 16 go to the bitfit heap when the size fits it and the alignment is at
 * most 4096, else to the large heap. Since every block lies in the cage, pas_heap_contains()
 * and pas_heap_clamp() are a few instructions.
 *
 * Every function here is checked: NULL, foreign and interior pointers, double frees (as far
 * as the heap can tell: the block is free and its memory was not handed out again), zero or
 * huge sizes and bad alignments are reported (see pas_error.h), never undefined behaviour.
 * The checks cost a lock of the sub-heap concerned on deallocate, get_size and reallocate.
 *
 * Ownership:
 *   - pas_heap_create() returns a heap the caller owns; pas_heap_destroy() ends it and
 *     unmaps its cage, live blocks included.
 *   - A block belongs to the caller from allocate until deallocate, reallocate (when it
 *     moves) or destroy.
 *
 * Page sharing: a heap returns the memory of pages that stay empty for a while (300 ms by
 * default) to the system on its own, from a process-wide scavenger thread;
 * pas_heap_scavenge() does it at once.
 *
 * Thread-safety: every function may be called from any thread, concurrently on the same
 * heap, except that pas_heap_destroy() must not race with any other use of that heap.
 * Errors are reported per thread (see pas_error.h).
 */
#ifndef PAS_HEAP_H
#define PAS_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pas_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque general heap. */
typedef struct pas_heap pas_heap;

/* Which sub-heap an address belongs to (by address only; says nothing about liveness). */
typedef enum pas_heap_region {
    /* Outside the heap's cage. */
    PAS_HEAP_REGION_FOREIGN = 0,
    PAS_HEAP_REGION_SMALL = 1,
    PAS_HEAP_REGION_MEDIUM = 2,
    PAS_HEAP_REGION_MARGE = 3,
    PAS_HEAP_REGION_LARGE = 4
} pas_heap_region;

/* A snapshot of a segregated heap (size-class pages). Counts are pages unless named bytes. */
typedef struct pas_segregated_heap_statistics {
    /* Bytes of one page. */
    uint64_t page_size;
    /* Chunks drawn from the system. */
    uint64_t chunk_count;
    /* Pages some thread allocates from. */
    uint64_t owned_pages;
    /* Pages no thread owns, with no free slot. */
    uint64_t full_pages;
    /* Pages no thread owns, with free slots and live objects. */
    uint64_t eligible_pages;
    /* Pages no thread owns, with no live object (committed or not). */
    uint64_t empty_pages;
    /* Cold-start pages holding objects of several classes. */
    uint64_t shared_pages;
    /* Empty pages whose memory was given back to the system. */
    uint64_t decommitted_pages;
    /* Never used pages left in the newest chunk. */
    uint64_t fresh_pages;
    /* Objects not known to be free (live objects plus free slots other threads cache). */
    uint64_t objects_in_use;
    /* Bytes of those objects (their class sizes). */
    uint64_t bytes_in_use;
    /* Frees made by threads that did not own the object's page. */
    uint64_t remote_frees;
    /* Double frees found late (when a thread's log of frees was applied) and ignored. */
    uint64_t late_double_frees;
    /* Bytes of committed pages that hold or may hold objects. */
    uint64_t committed_page_bytes;
} pas_segregated_heap_statistics;

/* A snapshot of the bitfit heap (objects in 4 KiB granules on 4 MiB pages). */
typedef struct pas_bitfit_heap_statistics {
    /* Bytes in live objects (sizes rounded up to granules). */
    uint64_t live_bytes;
    uint64_t object_count;
    /* Bytes of committed pages not in live objects. */
    uint64_t free_bytes;
    /* Pages, committed or not. */
    uint64_t page_count;
    /* Committed pages without live objects. */
    uint64_t empty_page_count;
    uint64_t committed_bytes;
    /* Bytes of pages whose memory was given back to the system. */
    uint64_t decommitted_bytes;
    uint64_t chunk_count;
    /* Side memory holding per-chunk metadata (all in use). */
    uint64_t metadata_bytes;
    /* Address space of fixed side tables (only the parts in use are resident). */
    uint64_t reserved_table_bytes;
    /* Pages searched without finding room since the heap was created. */
    uint64_t failed_page_searches;
} pas_bitfit_heap_statistics;

/* A snapshot of the large heap (page-granular objects). */
typedef struct pas_large_heap_statistics {
    /* Bytes in live objects (rounded up to 4 KiB). */
    uint64_t live_bytes;
    /* Bytes in free ranges, committed or not. */
    uint64_t free_bytes;
    uint64_t object_count;
    /* Free ranges after coalescing. */
    uint64_t free_range_count;
    /* Bytes drawn from the cage and not decommitted. */
    uint64_t committed_bytes;
    /* Bytes of free pages given back to the system and not reused since. */
    uint64_t decommitted_bytes;
    /* Bytes drawn from the cage (live_bytes + free_bytes). */
    uint64_t chunk_bytes;
    /* Bytes of pages holding the heap's own metadata. */
    uint64_t metadata_bytes;
} pas_large_heap_statistics;

/* A snapshot of a general heap: its cage and each sub-heap. */
typedef struct pas_heap_statistics {
    /* Bytes of address space the cage reserves. */
    uint64_t cage_bytes;
    /* Bytes of live blocks over all sub-heaps (class sizes or granule-rounded sizes). */
    uint64_t live_bytes;
    pas_segregated_heap_statistics small;
    pas_segregated_heap_statistics medium;
    pas_bitfit_heap_statistics marge;
    pas_large_heap_statistics large;
} pas_heap_statistics;

/* Creates a heap whose cage reserves cage_bytes of address space (a power of two, at least
   64 MiB; 0 means the default, 1 TiB). Memory is committed only as blocks need it.
   Returns NULL on failure: INVALID_SIZE for another cage size, OUT_OF_MEMORY (errno ENOMEM)
   when the address space cannot hold the cage (never a smaller cage: this function reserves
   exactly cage_bytes or fails), OUT_OF_MEMORY when the process has used up its
   segregated heap registry (16384 size-class slots per process lifetime, never given back;
   a general heap takes 60, so about 270 general heaps can ever be created in a process).
   Cost: one reservation and a few small mappings. */
pas_heap* pas_heap_create(size_t cage_bytes);

/* Destroys a heap made by pas_heap_create(), unmapping its cage; every block dies with it.
   PAS_ERROR_INVALID_ARGUMENT for NULL; PAS_ERROR_INVALID_HANDLE for a heap already destroyed
   or a value that is not a pas_heap* (every pas_heap_* function checks its handle the same
   way: a destroyed handle never reaches a heap created after it). Destroying a heap while
   another thread still uses it is undefined. */
pas_error_code pas_heap_destroy(pas_heap* heap);

/* Allocates a block of at least size bytes at a multiple of alignment (a power of two up to
   1 GiB; 0 means 16). The bytes are unspecified. Returns NULL: INVALID_SIZE for 0 or a size
   above the large heap's limit, INVALID_ALIGNMENT, OUT_OF_MEMORY (or SYSTEM) when the cage
   region for that size is used up. Cost: for sizes up to 16384 and alignment 16, a pop from
   the thread's cache (a lock only when it refills); otherwise a sub-heap lock. */
void* pas_heap_allocate(pas_heap* heap, size_t size, size_t alignment);

/* Allocates a block for count objects of size bytes each, filled with zero. count * size
   is checked: an overflow (or count or size 0) returns NULL with INVALID_SIZE (errno
   EINVAL, as every INVALID_SIZE); otherwise the errors of pas_heap_allocate(). */
void* pas_heap_allocate_zeroed(pas_heap* heap, size_t count, size_t size, size_t alignment);

/* Resizes a live block to new_size bytes, keeping its first min(old, new) bytes. Returns
   the block's address: the same one when it has room (or shrinks in place), else a new
   block (16-byte aligned; a larger alignment the old block had is not kept) and the old
   one is freed. Returns NULL and leaves the block live and unchanged on failure: the errors
   of pas_heap_get_size() for a block that is not live (NULL included: unlike realloc(),
   NULL does not allocate), INVALID_SIZE (0 or too large: new_size 0 does not free either),
   OUT_OF_MEMORY. */
void* pas_heap_reallocate(pas_heap* heap, void* block, size_t new_size);

/* Frees a live block. Errors (the heap is left unchanged): UNKNOWN_POINTER for NULL, a
   pointer outside the heap or inside a block; DOUBLE_FREE for a block already free. */
pas_error_code pas_heap_deallocate(pas_heap* heap, void* block);

/* The usable size of a live block (at least the size asked for), or 0 with the error
   recorded: UNKNOWN_POINTER (NULL, foreign, interior, or a free segregated block),
   DOUBLE_FREE (a free bitfit or large block). */
size_t pas_heap_get_size(pas_heap* heap, const void* block);

/* True if pointer lies in the heap's cage (whether or not a live block is there); false for
   a NULL heap, with nothing recorded. Lock-free; two instructions. */
bool pas_heap_contains(const pas_heap* heap, const void* pointer);

/* pointer forced into the cage (its offset from the cage start, modulo the cage size):
   unchanged for a pointer inside, never outside the cage for one outside. NULL for a NULL
   heap, with INVALID_ARGUMENT recorded. Lock-free; three instructions. */
void* pas_heap_clamp(const pas_heap* heap, const void* pointer);

/* The sub-heap whose part of the cage holds pointer (PAS_HEAP_REGION_FOREIGN outside the
   cage or for a NULL heap; nothing recorded). Lock-free. */
pas_heap_region pas_heap_region_of(const pas_heap* heap, const void* pointer);

/* Fills *statistics. Cost: proportional to the heap's pages, under each sub-heap's lock in
   turn. Errors: INVALID_ARGUMENT for a NULL heap or statistics. */
pas_error_code pas_heap_get_statistics(pas_heap* heap, pas_heap_statistics* statistics);

/* Gives the memory of every empty page and free large range back to the system now (the
   calling thread's cached pages first). Stores the bytes decommitted in *decommitted unless
   it is NULL. Other threads' cached pages are not touched. */
pas_error_code pas_heap_scavenge(pas_heap* heap, size_t* decommitted);

/* Checks every invariant of the heap's sub-heaps: PAS_OK or PAS_ERROR_CORRUPTED. */
pas_error_code pas_heap_verify(pas_heap* heap);

/* Layout checks: the library writes these structs at these offsets. */
#if defined(__cplusplus)
#define PAS_HEAP_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define PAS_HEAP_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif
PAS_HEAP_STATIC_ASSERT(sizeof(pas_segregated_heap_statistics) == 112, "pas_segregated_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_segregated_heap_statistics, objects_in_use) == 72, "pas_segregated_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_segregated_heap_statistics, committed_page_bytes) == 104, "pas_segregated_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(sizeof(pas_bitfit_heap_statistics) == 88, "pas_bitfit_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_bitfit_heap_statistics, failed_page_searches) == 80, "pas_bitfit_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(sizeof(pas_large_heap_statistics) == 64, "pas_large_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_large_heap_statistics, metadata_bytes) == 56, "pas_large_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_heap_statistics, small) == 16, "pas_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_heap_statistics, medium) == 128, "pas_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_heap_statistics, marge) == 240, "pas_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_heap_statistics, large) == 328, "pas_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(sizeof(pas_heap_statistics) == 392, "pas_heap_statistics layout");

#ifdef __cplusplus
}
#endif

#endif /* PAS_HEAP_H */
