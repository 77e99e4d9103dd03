/*
 * Pas C API: JIT heaps — executable memory for code a runtime generates.
 *
 * A pas_jit_heap hands out code blocks: addresses where code runs. The heap keeps all of its
 * bookkeeping outside code memory. Code is written with pas_jit_heap_write() or
 * pas_jit_heap_with_writable_bytes(), which open write access for one block only (through
 * a second, writable view in dual-mapped mode; with mprotect in toggled mode; directly in
 * rwx mode) and flush the instruction cache afterwards.
 *
 * Ownership:
 *   - pas_jit_heap_create() returns a heap the caller owns; pas_jit_heap_destroy() ends it
 *     and unmaps every region the heap reserved, live blocks included. Memory given with
 *     pas_jit_heap_add_fresh_memory() stays the caller's and is never unmapped by the heap.
 *   - A block belongs to the caller from allocate until deallocate (or destroy).
 *   - The process-wide heap (pas_jit_heap_process_heap()) lives as long as the process and
 *     cannot be destroyed.
 *
 * Thread-safety: every function may be called from any thread, concurrently on the same
 * heap, except that pas_jit_heap_destroy() must not race with any other use of that heap.
 * Errors are reported per thread (see pas_error.h).
 */
#ifndef PAS_JIT_HEAP_H
#define PAS_JIT_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pas_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque JIT heap. */
typedef struct pas_jit_heap pas_jit_heap;

/* How a heap keeps writing and running code apart. 0 is never a mode (it ends lists). */
typedef enum pas_jit_protection_mode {
    PAS_JIT_PROTECTION_NONE = 0,
    /* One memory file mapped twice: read+execute where code runs, read+write elsewhere.
       No address is ever writable and executable. The default on Linux. */
    PAS_JIT_PROTECTION_DUAL_MAPPED = 1,
    /* One readable, writable and executable mapping. Fastest writes, no W^X. */
    PAS_JIT_PROTECTION_RWX = 2,
    /* One read+execute mapping switched to read+write (mprotect) for the pages being
       written; code on those pages must not run during the write; writes are serialised. */
    PAS_JIT_PROTECTION_TOGGLED = 3
} pas_jit_protection_mode;

/* What freed code is overwritten with, so a stale call traps instead of running garbage. */
typedef enum pas_jit_fill {
    /* The trap instruction: int3 on x86-64, brk #0 on arm64. The default. */
    PAS_JIT_FILL_TRAP = 0,
    /* Leave freed code as it is. */
    PAS_JIT_FILL_NONE = 1,
    /* Repeat the byte in pas_jit_heap_options.fill_byte. */
    PAS_JIT_FILL_BYTE = 2
} pas_jit_fill;

#define PAS_JIT_HEAP_MAX_PROTECTION_MODES 4

/* How a heap is created. Fill it with pas_jit_heap_options_init(), then change fields. */
typedef struct pas_jit_heap_options {
    /* Bytes of address space reserved for code up front (committed lazily as code is
       written). 0 reserves nothing: the heap then allocates only from memory given to
       pas_jit_heap_add_fresh_memory(), like libpas's jit heap. Default 256 MiB. A size that is
       not a multiple of the page size (4096 on most systems) is refused with
       PAS_ERROR_INVALID_ARGUMENT, never rounded. */
    uint64_t region_size;
    /* pas_jit_protection_mode values to try in order, ending at the first 0; the first mode
       the system allows is used. Default { DUAL_MAPPED, 0, 0, 0 }: a refused mode is an
       error, not a silent weakening. With region_size 0 the first entry is only reported. */
    uint32_t protection_modes[PAS_JIT_HEAP_MAX_PROTECTION_MODES];
    /* A pas_jit_fill value. Default PAS_JIT_FILL_TRAP. */
    uint32_t fill;
    /* The byte repeated over freed code when fill is PAS_JIT_FILL_BYTE (0...255). */
    uint32_t fill_byte;
    /* Must be 0 (room for flags). */
    uint64_t reserved;
} pas_jit_heap_options;

/* A snapshot of a heap's memory use. */
typedef struct pas_jit_heap_statistics {
    /* The heap's pas_jit_protection_mode. */
    uint32_t protection_mode;
    uint32_t reserved0;
    /* Bytes of code address space in all regions (reserved and given). */
    uint64_t reserved_bytes;
    /* Bytes of those regions handed to the allocators so far. */
    uint64_t used_address_space;
    /* Bytes in live blocks (each rounded up to its allocator's granule). */
    uint64_t live_bytes;
    /* Number of live blocks. */
    uint64_t block_count;
    /* Bytes given back to the system and not reused since. */
    uint64_t decommitted_bytes;
    /* Bytes of physical memory behind the dual-mapped regions the heap created, or -1 when
       the heap has no such region. */
    int64_t resident_code_bytes;
} pas_jit_heap_statistics;

/* Called by pas_jit_heap_with_writable_bytes() with a writable view of a whole block. */
typedef void (*pas_jit_heap_write_function)(void* writable, size_t size, void* context);

/* Fills *options with the defaults listed above. Never fails (a NULL options is ignored). */
void pas_jit_heap_options_init(pas_jit_heap_options* options);

/* Creates a heap; options NULL means the defaults. Returns NULL on failure:
   PAS_ERROR_OUT_OF_MEMORY when the address space cannot hold region_size (an address-space
   limit, or no hole that large: no other mode is tried and no smaller region is taken),
   PAS_ERROR_UNSUPPORTED when every listed protection mode was refused (the message names
   each mode and why),
   PAS_ERROR_INVALID_ARGUMENT for an empty mode list, unknown mode or fill values, a
   fill_byte above 255, a region size above INT64_MAX or a non-zero reserved field.
   Cost: a few system calls (memfd_create, mmap). */
pas_jit_heap* pas_jit_heap_create(const pas_jit_heap_options* options);

/* Destroys a heap made by pas_jit_heap_create(), unmapping its own regions; every block
   dies with it. PAS_ERROR_INVALID_ARGUMENT for NULL or the process-wide heap;
   PAS_ERROR_INVALID_HANDLE for a heap already destroyed or a value that is not a
   pas_jit_heap* (every pas_jit_heap_* function checks its handle the same way). Destroying
   a heap while another thread still uses it is undefined. */
pas_error_code pas_jit_heap_destroy(pas_jit_heap* heap);

/* The process-wide heap behind libpas's jit_heap_* functions (see jit_heap.h), so they
   can be inspected or written with the functions here. Created on first use; it reserves
   nothing and allocates only from memory given with jit_heap_add_fresh_memory(), in rwx
   mode, and leaves freed code as it is. Never NULL. */
pas_jit_heap* pas_jit_heap_process_heap(void);

/* Gives a heap executable memory the caller mapped itself. executable and size must be
   page aligned. writable is the page-aligned address of a writable view of the same
   memory (a dual mapping), or NULL; then mode says how the heap writes: PAS_JIT_PROTECTION_RWX
   (executable is writable too) or PAS_JIT_PROTECTION_TOGGLED (the heap mprotects it while
   writing); PAS_JIT_PROTECTION_NONE means RWX. The memory must be committed and clean.
   The heap never unmaps it. Errors: MISALIGNED, INVALID_SIZE, OUTSIDE_RESERVATION
   (overlaps memory the heap has), UNSUPPORTED (too many regions), INVALID_ARGUMENT. */
pas_error_code pas_jit_heap_add_fresh_memory(pas_jit_heap* heap, void* executable, size_t size,
                                             void* writable, pas_jit_protection_mode mode);

/* Allocates a block of at least size bytes at a multiple of alignment (a power of two;
   0 means 16). Returns its executable address, or NULL: INVALID_SIZE for 0 or a size too
   large to represent, INVALID_ALIGNMENT, OUT_OF_MEMORY when the heap's memory is used up.
   The block's bytes are unspecified until written. Cost: one lock round trip on the sub-heap
   of small and medium sizes; two for a large block (the allocation, then the query of its
   usable size), three if it is given back because it lies in a region detached by fork. */
void* pas_jit_heap_allocate(pas_jit_heap* heap, size_t size, size_t alignment);

/* Frees a block; its bytes are overwritten with the fill pattern first. Errors:
   UNKNOWN_POINTER (NULL, foreign or interior pointer), DOUBLE_FREE (when the heap can
   tell: the block is already free and its memory has not been handed out again).
   Cost: one lock round trip and the fill; two for a large block. */
pas_error_code pas_jit_heap_deallocate(pas_jit_heap* heap, void* block);

/* Shrinks a block in place to at least new_size bytes (0 < new_size <= its size); the tail
   is filled and returned to the heap. Errors: UNKNOWN_POINTER, INVALID_SIZE. */
pas_error_code pas_jit_heap_shrink(pas_jit_heap* heap, void* block, size_t new_size);

/* The usable size of a live block (its requested size rounded up to the granule), or 0 with
   UNKNOWN_POINTER recorded (DOUBLE_FREE for a block already freed). */
size_t pas_jit_heap_get_size(pas_jit_heap* heap, const void* block);

/* Allocates a block for count bytes, copies them in and flushes the instruction cache, in one
   step (the way to publish a finished function). Cost: for small and medium blocks one lock
   round trip, the copy made under the sub-heap's lock; for large blocks the two or three of
   pas_jit_heap_allocate(), the copy made after them. Alignment 0 means 16.
   Returns the executable address, or NULL with the error recorded (INVALID_ARGUMENT for NULL
   bytes or count 0, and the errors of pas_jit_heap_allocate). */
void* pas_jit_heap_install(pas_jit_heap* heap, const void* bytes, size_t count, size_t alignment);

/* Copies count bytes into block at offset, then flushes the instruction cache for them.
   Errors: UNKNOWN_POINTER, OUT_OF_BOUNDS (offset + count past the block's size),
   INVALID_ARGUMENT (bytes NULL with count > 0), SYSTEM (mprotect refused in toggled mode). */
pas_error_code pas_jit_heap_write(pas_jit_heap* heap, void* block, size_t offset,
                                  const void* bytes, size_t count);

/* Calls function(writable, size, context) with a writable view of the whole block, then
   closes write access and flushes the instruction cache. In toggled mode the block's pages
   are not executable during the call, and the heap's writes are serialised by a lock held
   during the call, so function must not call back into the heap. Errors: as
   pas_jit_heap_write(). */
pas_error_code pas_jit_heap_with_writable_bytes(pas_jit_heap* heap, void* block,
                                                pas_jit_heap_write_function function, void* context);

/* True if pc lies in the heap's code memory (false for a NULL heap; nothing recorded).
   Lock-free; a few comparisons. */
bool pas_jit_heap_contains(pas_jit_heap* heap, const void* pc);

/* The heap's protection mode (PAS_JIT_PROTECTION_NONE for a NULL heap, with
   INVALID_ARGUMENT recorded). */
pas_jit_protection_mode pas_jit_heap_protection_mode(pas_jit_heap* heap);

/* Fills *statistics. Cost: proportional to the number of regions and pages. */
pas_error_code pas_jit_heap_get_statistics(pas_jit_heap* heap, pas_jit_heap_statistics* statistics);

/* Returns the physical memory of every code page that holds no live block to the system
   now. Stores the bytes decommitted in *decommitted unless it is NULL. */
pas_error_code pas_jit_heap_scavenge(pas_jit_heap* heap, size_t* decommitted);

/* Checks every invariant of the heap's allocators: PAS_OK or PAS_ERROR_CORRUPTED. */
pas_error_code pas_jit_heap_verify(pas_jit_heap* heap);

/* Layout checks: the library reads and writes these structs at these offsets. */
#if defined(__cplusplus)
#define PAS_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define PAS_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif
PAS_STATIC_ASSERT(offsetof(pas_jit_heap_options, protection_modes) == 8, "pas_jit_heap_options layout");
PAS_STATIC_ASSERT(offsetof(pas_jit_heap_options, fill) == 24, "pas_jit_heap_options layout");
PAS_STATIC_ASSERT(offsetof(pas_jit_heap_options, fill_byte) == 28, "pas_jit_heap_options layout");
PAS_STATIC_ASSERT(sizeof(pas_jit_heap_options) == 40, "pas_jit_heap_options layout");
PAS_STATIC_ASSERT(offsetof(pas_jit_heap_statistics, reserved_bytes) == 8, "pas_jit_heap_statistics layout");
PAS_STATIC_ASSERT(offsetof(pas_jit_heap_statistics, resident_code_bytes) == 48, "pas_jit_heap_statistics layout");
PAS_STATIC_ASSERT(sizeof(pas_jit_heap_statistics) == 56, "pas_jit_heap_statistics layout");

#ifdef __cplusplus
}
#endif

#endif /* PAS_JIT_HEAP_H */
