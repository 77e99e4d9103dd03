// The C definitions of `malloc` and `free` for libpasmalloc.so.
//
// Swift reserves these two symbol names for its runtime, so `@_cdecl("malloc")` is refused
// (a warning today, an error later). These one-line forwarders give the library the names; the
// work is done by the Swift entry points they call. The other entry points (calloc, realloc,
// ...) are `@_cdecl` functions in PasMalloc.
#include "swift_entry_points.h"

// Forwarders only: the compiler turns each into a single jump.
void *malloc(size_t size) { return pas_malloc_entry(size); }
void free(void *pointer) { pas_free_entry(pointer); }
