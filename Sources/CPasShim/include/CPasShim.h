// CPasShim: the few lines of C that Swift cannot express directly.
//
// Everything here is either a raw system call wrapper whose constant or
// prototype Glibc's Swift overlay lacks, or an inline accessor that must be
// compiled by clang with a particular code model (initial-exec TLS, cache
// flush builtin). Keep it small: logic belongs in Swift.
#ifndef CPASSHIM_H
#define CPASSHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: memfd and fallocate

/// memfd_create(2) with MFD_CLOEXEC always set, and MFD_NOEXEC_SEAL (Linux 6.3 and later: the
/// file has no execute bits and can never get them, so its descriptor cannot be executed)
/// when the kernel accepts it; a kernel that refuses the flag with EINVAL gets the call
/// without it. Returns a file descriptor or -1 with errno set.
int pas_shim_memfd_create(const char *name);

/// fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: frees the file's pages in
/// [offset, offset + length) without changing the file size. Returns 0 or -1 with errno set.
int pas_shim_punch_hole(int fd, int64_t offset, int64_t length);
/// `lseek(fd, offset, SEEK_DATA)` (`hole` false) or `SEEK_HOLE` (`hole` true): the next offset at
/// or after `offset` that holds data (or is a hole); -1 with errno (ENXIO: no data up to the end).
int64_t pas_shim_seek_data(int fd, int64_t offset, bool hole);
/// `copy_file_range(from, &fromOffset, to, &toOffset, length, 0)`: bytes copied, or -1 with errno.
int64_t pas_shim_copy_file_range(int from, int64_t fromOffset, int to, int64_t toOffset, size_t length);

// MARK: instruction cache

/// Makes instructions written to [begin, end) visible to instruction fetch on this thread.
/// A compiler fence on x86-64 (coherent instruction cache); cache maintenance on arm64.
static inline void pas_shim_flush_icache(void *begin, void *end) {
    __builtin___clear_cache((char *)begin, (char *)end);
}

// MARK: thread-local slot
//
// One pointer per thread, in the initial-exec TLS model: reading it is a single
// %fs-relative load (x86-64) or a tpidr_el0-relative load (arm64), with no call to
// __tls_get_addr. The accessors are `static inline` so that Swift inlines them.
// The slot belongs to the allocator's thread cache; nothing else may use it.

extern __thread void *pas_shim_thread_slot __attribute__((tls_model("initial-exec")));

static inline __attribute__((always_inline)) void *pas_shim_thread_slot_get(void) {
    return pas_shim_thread_slot;
}

static inline __attribute__((always_inline)) void pas_shim_thread_slot_set(void *value) {
    pas_shim_thread_slot = value;
}

/// Registers `destructor` to run with the slot's value when a thread whose slot is non-null
/// exits (through a pthread key). Safe to call more than once; only the first call counts.
/// Returns 0 or an errno value.
int pas_shim_thread_slot_set_destructor(void (*destructor)(void *));

/// Marks the calling thread as having a non-null slot so that the destructor runs at exit.
void pas_shim_thread_slot_arm_destructor(void *value);

// MARK: futex

/// Blocks while *word == expected (FUTEX_WAIT_PRIVATE). Returns 0, or -1 with errno set
/// (EAGAIN when the word already differs, EINTR on a signal).
int pas_shim_futex_wait(uint32_t *word, uint32_t expected);

/// Wakes up to `count` waiters blocked on `word` (FUTEX_WAKE_PRIVATE).
int pas_shim_futex_wake(uint32_t *word, int count);

// MARK: malloc start-up (used by PasMalloc)
//
// A malloc built on a Swift heap is re-entered while the heap is created (Swift object and
// runtime metadata allocations call malloc), and unoptimised Swift code may allocate runtime
// metadata on its first run. So the state machine of the start-up and the bootstrap arena that
// serves the re-entrant calls are plain C, which never allocates.

/// The published heap (opaque), NULL until `pas_shim_malloc_start_finish` publishes it.
extern void *pas_shim_malloc_heap;

static inline __attribute__((always_inline)) void *pas_shim_malloc_heap_get(void) {
    return __atomic_load_n(&pas_shim_malloc_heap, __ATOMIC_ACQUIRE);
}

/// Start-up gate. Returns 1 if the caller must create the heap now (it then calls
/// `pas_shim_malloc_start_finish`), 0 if the heap is published, -2 if the caller is running a
/// maintenance call (it must use the auxiliary heap), -1 if the caller must use
/// bootstrap memory (it is the thread creating the heap, creation failed, or the library's
/// constructors have not run yet, i.e. the Swift runtime may not be ready). Waits (yielding)
/// while another thread creates the heap.
int pas_shim_malloc_start_enter(void);

/// Publishes `heap` (or records a failure if NULL) and opens the gate.
void pas_shim_malloc_start_finish(void *heap);

/// Nesting depth of the malloc entry points on this thread (debug builds of PasMalloc only):
/// unoptimised Swift instantiates runtime metadata on a path's first run, under runtime locks,
/// and that instantiation calls malloc; a nested call must then not run Swift code, so it is
/// served from the bootstrap arena.
extern __thread int pas_shim_malloc_depth __attribute__((tls_model("initial-exec")));

/// Enters an entry point; false if the thread is already inside one.
static inline __attribute__((always_inline)) bool pas_shim_malloc_depth_enter(void) {
    return pas_shim_malloc_depth++ == 0;
}

static inline __attribute__((always_inline)) bool pas_shim_malloc_nested(void) {
    return pas_shim_malloc_depth != 0;
}

static inline __attribute__((always_inline)) void pas_shim_malloc_depth_leave(void) {
    pas_shim_malloc_depth--;
}

/// The auxiliary heap (opaque): serves the allocations a maintenance call (verify, scavenge)
/// makes while it holds heap locks. Set once before the main heap is published.
extern void *pas_shim_malloc_aux_heap;

static inline __attribute__((always_inline)) void *pas_shim_malloc_aux_heap_get(void) {
    return __atomic_load_n(&pas_shim_malloc_aux_heap, __ATOMIC_ACQUIRE);
}

static inline __attribute__((always_inline)) void pas_shim_malloc_aux_heap_set(void *heap) {
    __atomic_store_n(&pas_shim_malloc_aux_heap, heap, __ATOMIC_RELEASE);
}

/// Starts a maintenance call: waits until the heap is published, then hides it (the heap
/// pointer reads NULL) so that every allocation goes through the gate: the calling thread's
/// get -2 from `pas_shim_malloc_start_enter` (use the auxiliary heap), other threads wait.
void pas_shim_malloc_maintenance_begin(void);

/// Ends a maintenance call: publishes the heap again.
void pas_shim_malloc_maintenance_end(void);

/// In a forked child (its only thread): puts the start gate back in a state that names no
/// thread of the parent. A heap being created (state 1) is abandoned, so the next allocation
/// creates one; a maintenance state (4) publishes the saved heap again.
void pas_shim_malloc_reset_after_fork(void);

/// A block of `size` bytes (0 counts as 1) aligned to `alignment` (a power of two, at most
/// 1 MiB) from a 64 MiB arena mapped on first use; never reused. NULL with errno ENOMEM when
/// exhausted.
void *pas_shim_bootstrap_allocate(size_t size, size_t alignment);

/// True if `pointer` lies in the bootstrap arena.
bool pas_shim_bootstrap_contains(const void *pointer);

/// The size a bootstrap block was allocated with (clamped to the arena).
size_t pas_shim_bootstrap_size(const void *pointer);

/// Counts a free the malloc library ignored; returns the new count when `add` is non-zero, the
/// current count otherwise.
size_t pas_shim_malloc_ignored_frees(int add);

// MARK: misc

/// Pins the calling thread to `cpu` (sched_setaffinity, a GNU extension Glibc's overlay does
/// not expose). Returns 0 or an errno value. Used by the benchmark's two-thread workloads.
int pas_shim_pin_current_thread(int cpu);

/// The calling thread's kernel thread id.
int32_t pas_shim_gettid(void);

#ifdef __cplusplus
}
#endif

#endif
