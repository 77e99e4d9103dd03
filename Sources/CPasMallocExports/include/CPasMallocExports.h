// CPasMallocExports: the C definitions of `malloc` and `free` for libpasmalloc.so.
//
// Swift reserves these two symbol names for its runtime, so `@_cdecl("malloc")` is refused
// (a warning today, an error later). These one-line forwarders give the library the names; the
// work is done by the Swift entry points they call. Only the PasMalloc target links this.
#ifndef CPASMALLOCEXPORTS_H
#define CPASMALLOCEXPORTS_H

#include <stddef.h>

/// Swift: `PasMalloc.pas_malloc`.
void *pas_malloc_entry(size_t size);
/// Swift: `PasMalloc.pas_free`.
void pas_free_entry(void *pointer);

#endif
