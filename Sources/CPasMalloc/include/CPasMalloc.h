// CPasMalloc: the C half of the malloc library (libpasmalloc.so).
//
// A malloc built on a Swift heap is re-entered while the heap is created (Swift object and
// runtime metadata allocations call malloc), is called before the Swift runtime's constructors
// have run (a preloaded library serves ld.so's and libstdc++'s first allocations), and must
// export the names `malloc` and `free`, which Swift reserves for its runtime. What has to run
// before Swift code can, or instead of it, is plain C here, which never allocates:
// - the start gate: the state machine that creates and publishes the heap, the auxiliary heap
//   of maintenance calls, and the constructor that creates the heap at load time;
// - the entry depth: the nesting of the entry points on a thread (debug builds);
// - the bootstrap arena: the memory that serves allocations made before the heap is published;
// - the count of foreign frees: frees of pointers no heap of the library owns;
// - the exported names `malloc` and `free`, forwarding to the Swift entry points.
// The policy of each lives here; the heap paths live in Swift (Sources/PasMalloc). Only the
// PasMalloc target depends on this one.
#ifndef CPASMALLOC_H
#define CPASMALLOC_H

#include "pas_malloc_start_gate.h"
#include "pas_malloc_entry_depth.h"
#include "pas_malloc_bootstrap_arena.h"
#include "pas_malloc_foreign_frees.h"

#endif
