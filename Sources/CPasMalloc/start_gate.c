#define _GNU_SOURCE
#include "pas_malloc_start_gate.h"
#include "swift_entry_points.h"

#include <sched.h>
#include <stdint.h>
#include <unistd.h>

void *pas_malloc_published_heap = NULL;
void *pas_malloc_aux_heap = NULL;

// The gate's state word. Transitions: not started -> creating (one thread wins the CAS) ->
// published or failed; published <-> maintenance (one thread at a time); in a forked child,
// creating -> not started and maintenance -> published.
enum {
    gate_not_started = 0,
    gate_creating = 1,     // by `gate_owner`
    gate_published = 2,
    gate_failed = 3,
    gate_maintenance = 4,  // by `gate_owner`; the heap pointer reads NULL meanwhile
};
static int gate_state = gate_not_started;
// The kernel thread id of the thread creating the heap or running a maintenance call.
static int32_t gate_owner = 0;
// The published heap while a maintenance call hides it. Written by the thread that moved the
// state to maintenance, after its CAS, and read by it (or by a fork child, whose only thread
// inherited it) before the state goes back to published: the state word orders the accesses.
static void *gate_saved_heap = NULL;

// Set by the constructor below. A preloaded malloc is called before the Swift runtime's and the
// library's own constructors have run (libstdc++ allocates its emergency pool first); creating
// Swift objects then crashes, so until this constructor runs every allocation is bootstrap
// memory. Constructors of a shared object run after those of its dependencies (the Swift
// runtime), and this object file is linked after the Swift image registration object, so its
// constructor runs after that one too.
// volatile: an optimiser may otherwise evaluate the constructor at compile time and start the
// flag at 1.
static volatile int gate_runtime_ready = 0;

// Creates the heap at load time, so that it is not first created by a malloc the Swift runtime
// makes while holding its own locks (the executable's image registration does), which would
// deadlock on those locks.
__attribute__((constructor)) static void gate_mark_runtime_ready(void) {
    __atomic_store_n(&gate_runtime_ready, 1, __ATOMIC_RELEASE);
    if (pas_malloc_create_heap) pas_malloc_create_heap();
}

int pas_malloc_start_enter(void) {
    for (;;) {
        int state = __atomic_load_n(&gate_state, __ATOMIC_ACQUIRE);
        if (state == gate_published) return 0;
        if (state == gate_failed) return -1;
        if (state == gate_not_started) {
            if (!__atomic_load_n(&gate_runtime_ready, __ATOMIC_ACQUIRE)) return -1;
            int expected = gate_not_started;
            if (__atomic_compare_exchange_n(&gate_state, &expected, gate_creating, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                __atomic_store_n(&gate_owner, (int32_t)gettid(), __ATOMIC_RELEASE);
                return 1;
            }
            continue;
        }
        if (__atomic_load_n(&gate_owner, __ATOMIC_ACQUIRE) == (int32_t)gettid()) return state == gate_maintenance ? -2 : -1;
        sched_yield();
    }
}

void pas_malloc_start_finish(void *heap) {
    if (heap) __atomic_store_n(&pas_malloc_published_heap, heap, __ATOMIC_RELEASE);
    __atomic_store_n(&gate_state, heap ? gate_published : gate_failed, __ATOMIC_RELEASE);
}

void pas_malloc_maintenance_begin(void) {
    for (;;) {
        int expected = gate_published;
        if (__atomic_compare_exchange_n(&gate_state, &expected, gate_maintenance, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) break;
        sched_yield();
    }
    __atomic_store_n(&gate_owner, (int32_t)gettid(), __ATOMIC_RELEASE);
    gate_saved_heap = pas_malloc_published_heap;
    __atomic_store_n(&pas_malloc_published_heap, NULL, __ATOMIC_RELEASE);
}

void pas_malloc_maintenance_end(void) {
    __atomic_store_n(&pas_malloc_published_heap, gate_saved_heap, __ATOMIC_RELEASE);
    __atomic_store_n(&gate_state, gate_published, __ATOMIC_RELEASE);
}

void pas_malloc_reset_after_fork(void) {
    int state = __atomic_load_n(&gate_state, __ATOMIC_ACQUIRE);
    if (state == gate_creating) {
        // The creating thread does not exist here: start over (the next call creates a heap).
        __atomic_store_n(&pas_malloc_published_heap, NULL, __ATOMIC_RELEASE);
        __atomic_store_n(&gate_state, gate_not_started, __ATOMIC_RELEASE);
    } else if (state == gate_maintenance) {
        // A maintenance call of a thread that does not exist here: its heap is consistent (the
        // fork held every heap lock), so publish it again.
        __atomic_store_n(&pas_malloc_published_heap, gate_saved_heap, __ATOMIC_RELEASE);
        __atomic_store_n(&gate_state, gate_published, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&gate_owner, 0, __ATOMIC_RELEASE);
}
