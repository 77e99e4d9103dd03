/*
 * Pas C API: typed heaps — objects of one type, whose memory never holds another type.
 *
 * A pas_typed_heap hands out objects of one fixed size (the isoheap idea): its pages only
 * ever hold objects of that heap. Freed objects and empty pages are reused only by the same
 * heap; empty pages may be given back to the system (their address space stays the heap's).
 * So while a typed heap lives, an address it handed out is never handed out by any other
 * heap: a dangling pointer to a freed object can only ever see an object of the same type.
 * Destroying the heap releases its address space, which may then be reused by anything.
 *
 * Each heap reserves its own address space (64 MiB steps, committed chunk by chunk as
 * needed): objects up to 2048 bytes (after rounding) live on 16 KiB pages in 1 MiB chunks,
 * larger ones (up to 16384 bytes) on 128 KiB pages in 4 MiB chunks.
 *
 * Ownership: pas_typed_heap_create() returns a heap the caller owns; pas_typed_heap_destroy()
 * ends it, and every object with it. An object belongs to the caller from allocate until
 * deallocate.
 *
 * Thread-safety: every function may be called from any thread, concurrently on the same
 * heap, except that pas_typed_heap_destroy() must not race with any other use of that heap.
 * Errors are reported per thread (see pas_error.h); the message names the heap.
 */
#ifndef PAS_TYPED_HEAP_H
#define PAS_TYPED_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "pas_error.h"
#include "pas_heap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque typed heap. */
typedef struct pas_typed_heap pas_typed_heap;

/* A snapshot of a typed heap. */
typedef struct pas_typed_heap_statistics {
    /* Bytes of each object: object_size rounded up to the alignment (and to 16). */
    uint64_t object_size;
    /* Alignment of every object (at least 16). */
    uint64_t alignment;
    /* The heap's pages and objects (one size class). */
    pas_segregated_heap_statistics pages;
} pas_typed_heap_statistics;

/* Creates a heap for objects of object_size bytes aligned to alignment (a power of two; 0
   means 16). name (may be NULL) is copied and appears in error messages. Returns NULL:
   INVALID_SIZE for object_size 0 or above 16384 after rounding up to the alignment,
   INVALID_ALIGNMENT (also for an alignment above 131072), OUT_OF_MEMORY when the process
   has used up its segregated heap registry (4096 segregated heaps per process lifetime;
   every typed heap takes one, every general heap two, and none is given back).
   Cost: a registry entry and one small mapping; nothing is reserved before the first
   allocation. */
pas_typed_heap* pas_typed_heap_create(size_t object_size, size_t alignment, const char* name);

/* Destroys a heap made by pas_typed_heap_create(), releasing its address space; every
   object dies with it. INVALID_ARGUMENT for NULL; INVALID_HANDLE for a heap already
   destroyed or a value that is not a pas_typed_heap* (every pas_typed_heap_* function
   checks its handle the same way). Destroying a heap while another thread still uses it is
   undefined. */
pas_error_code pas_typed_heap_destroy(pas_typed_heap* heap);

/* One object (its bytes unspecified), or NULL: OUT_OF_MEMORY or SYSTEM when no memory can
   be committed, INVALID_ARGUMENT for a NULL heap. Cost: a pop from the thread's cache
   (a lock of the heap only when it refills). */
void* pas_typed_heap_allocate(pas_typed_heap* heap);

/* Frees an object of this heap. Errors (the heap is left unchanged): UNKNOWN_POINTER for
   NULL, a pointer this heap did not hand out (another heap's object included) or one inside
   an object; DOUBLE_FREE for an object already free. Cost: the heap's lock and a check. */
pas_error_code pas_typed_heap_deallocate(pas_typed_heap* heap, void* object);

/* Fills *statistics. Cost: proportional to the heap's pages, under its lock. Errors:
   INVALID_ARGUMENT for a NULL heap or statistics. */
pas_error_code pas_typed_heap_get_statistics(pas_typed_heap* heap, pas_typed_heap_statistics* statistics);

/* Gives the memory of every empty page back to the system now (the calling thread's cached
   pages first); the pages stay this heap's. Stores the bytes decommitted in *decommitted
   unless it is NULL. */
pas_error_code pas_typed_heap_scavenge(pas_typed_heap* heap, size_t* decommitted);

/* Checks every invariant of the heap: PAS_OK or PAS_ERROR_CORRUPTED. */
pas_error_code pas_typed_heap_verify(pas_typed_heap* heap);

/* Layout checks: the library writes this struct at these offsets. */
PAS_HEAP_STATIC_ASSERT(sizeof(pas_typed_heap_statistics) == 128, "pas_typed_heap_statistics layout");
PAS_HEAP_STATIC_ASSERT(offsetof(pas_typed_heap_statistics, pages) == 16, "pas_typed_heap_statistics layout");

#ifdef __cplusplus
}
#endif

#endif /* PAS_TYPED_HEAP_H */
