// The Swift entry points (PasMalloc, `@_cdecl`) the C files of this target call. Private to the
// target (outside include/): Swift code calls the Swift functions themselves.
#ifndef PAS_MALLOC_SWIFT_ENTRY_POINTS_H
#define PAS_MALLOC_SWIFT_ENTRY_POINTS_H

#include <stddef.h>

/// Swift: `PasMalloc.pas_malloc`.
void *pas_malloc_entry(size_t size);
/// Swift: `PasMalloc.pas_free`.
void pas_free_entry(void *pointer);
/// Swift: `PasMalloc.pas_malloc_create_heap`. Weak: absent when these objects are linked
/// without PasMalloc's, in which case the constructor creates no heap.
extern void pas_malloc_create_heap(void) __attribute__((weak));

#endif
