/*
 * Pas C API: libpas's jit_heap entry points, same names, types and meaning, so code written
 * against libpas's jit_heap.h links against libPasC unchanged.
 *
 * They work on one process-wide JIT heap (pas_jit_heap_process_heap()). Like libpas's, that
 * heap reserves nothing: it allocates only from memory given with
 * jit_heap_add_fresh_memory(). It never reads or writes that memory on its own (freed code
 * is not filled), so the runtime may map it with any permissions and write code itself;
 * pas_jit_heap_write() on the process-wide heap writes directly (rwx mode) and so needs the
 * memory to be writable.
 *
 * Where libpas would crash on bad input, these functions record the error in the calling
 * thread's last-error record (see pas_error.h) and return: jit_heap_deallocate() and
 * jit_heap_shrink() then do nothing; jit_heap_get_size() returns 0 (as libpas does for
 * unknown pointers); jit_heap_try_allocate() returns NULL. jit_heap_try_allocate(0) returns
 * a block of the smallest size, as libpas does.
 *
 * Thread-safety: all five may be called from any thread, concurrently.
 */
#ifndef PAS_JIT_HEAP_COMPAT_H
#define PAS_JIT_HEAP_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#include "pas_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef PAS_RANGE_H
/* A range of addresses [begin, end), as libpas's pas_range.h defines it. */
typedef struct pas_range {
    uintptr_t begin;
    uintptr_t end;
} pas_range;
#endif

/* Donates [range.begin, range.end) to the process-wide heap. Both ends must be page
   aligned; the memory must be committed, clean (zero) and executable. It may be called
   any number of times with ranges that do not overlap. */
void jit_heap_add_fresh_memory(pas_range range);

/* A block of at least size bytes (aligned to 16 bytes), or NULL when the donated memory
   cannot hold it. */
void* jit_heap_try_allocate(size_t size);

/* Shrinks a live block in place to at least new_size bytes (0 < new_size <= its size). */
void jit_heap_shrink(void* object, size_t new_size);

/* The usable size of a live block; 0 for a pointer that is not one. */
size_t jit_heap_get_size(void* object);

/* Frees a live block. */
void jit_heap_deallocate(void* object);

#ifdef __cplusplus
}
#endif

#endif /* PAS_JIT_HEAP_COMPAT_H */
