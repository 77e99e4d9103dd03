// The malloc library's start gate: creates the heap once, publishes it, and hides it during
// maintenance calls. Lock-free (atomics on a state word); a thread that finds another one
// creating the heap waits by yielding.
#ifndef PAS_MALLOC_START_GATE_H
#define PAS_MALLOC_START_GATE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The published heap (opaque), NULL until `pas_malloc_start_finish` publishes it and while a
/// maintenance call runs.
extern void *pas_malloc_published_heap;

/// The published heap or NULL. One acquire load; any thread.
static inline __attribute__((always_inline)) void *pas_malloc_heap_get(void) {
    return __atomic_load_n(&pas_malloc_published_heap, __ATOMIC_ACQUIRE);
}

/// Start-up gate. Returns 1 if the caller must create the heap now (it then calls
/// `pas_malloc_start_finish`), 0 if the heap is published, -2 if the caller is running a
/// maintenance call (it must use the auxiliary heap), -1 if the caller must use
/// bootstrap memory (it is the thread creating the heap, creation failed, or the library's
/// constructors have not run yet, i.e. the Swift runtime may not be ready). Waits (yielding)
/// while another thread creates the heap or runs a maintenance call.
int pas_malloc_start_enter(void);

/// Publishes `heap` (or records a failure if NULL) and opens the gate. Called once, by the
/// thread `pas_malloc_start_enter` returned 1 to.
void pas_malloc_start_finish(void *heap);

/// The auxiliary heap (opaque): serves the allocations a maintenance call (verify, scavenge)
/// makes while it holds heap locks. Set once before the main heap is published.
extern void *pas_malloc_aux_heap;

/// The auxiliary heap or NULL. One acquire load; any thread.
static inline __attribute__((always_inline)) void *pas_malloc_aux_heap_get(void) {
    return __atomic_load_n(&pas_malloc_aux_heap, __ATOMIC_ACQUIRE);
}

/// Sets the auxiliary heap (release store). Called once, by the thread creating the heap.
static inline __attribute__((always_inline)) void pas_malloc_aux_heap_set(void *heap) {
    __atomic_store_n(&pas_malloc_aux_heap, heap, __ATOMIC_RELEASE);
}

/// Starts a maintenance call: waits until the heap is published, then hides it (the heap
/// pointer reads NULL) so that every allocation goes through the gate: the calling thread's
/// get -2 from `pas_malloc_start_enter` (use the auxiliary heap), other threads wait.
/// Maintenance calls must not overlap (the caller serialises them with a lock).
void pas_malloc_maintenance_begin(void);

/// Ends a maintenance call: publishes the heap again.
void pas_malloc_maintenance_end(void);

/// In a forked child (its only thread): puts the start gate back in a state that names no
/// thread of the parent. A heap being created is abandoned, so the next allocation creates
/// one; a maintenance state publishes the saved heap again.
void pas_malloc_reset_after_fork(void);

#ifdef __cplusplus
}
#endif

#endif
