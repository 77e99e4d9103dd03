// Nesting depth of the malloc entry points on this thread (debug builds of PasMalloc only):
// unoptimised Swift instantiates runtime metadata on a path's first run, under runtime locks,
// and that instantiation calls malloc; a nested call must then not run Swift code, so it is
// served from the bootstrap arena.
#ifndef PAS_MALLOC_ENTRY_DEPTH_H
#define PAS_MALLOC_ENTRY_DEPTH_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The calling thread's depth, in the initial-exec TLS model (one %fs- or tpidr_el0-relative
/// access, no call to __tls_get_addr, which could allocate).
extern __thread int pas_malloc_depth __attribute__((tls_model("initial-exec")));

/// Enters an entry point; false if the thread is already inside one. Every call, true or
/// false, is paired with `pas_malloc_depth_leave`.
static inline __attribute__((always_inline)) bool pas_malloc_depth_enter(void) {
    return pas_malloc_depth++ == 0;
}

/// True if the calling thread is inside an entry point.
static inline __attribute__((always_inline)) bool pas_malloc_nested(void) {
    return pas_malloc_depth != 0;
}

/// Leaves an entry point.
static inline __attribute__((always_inline)) void pas_malloc_depth_leave(void) {
    pas_malloc_depth--;
}

#ifdef __cplusplus
}
#endif

#endif
