#include "CPasMallocExports.h"

// Forwarders only: the compiler turns each into a single jump.
void *malloc(size_t size) { return pas_malloc_entry(size); }
void free(void *pointer) { pas_free_entry(pointer); }
