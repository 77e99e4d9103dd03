// The count of foreign frees: frees of pointers that neither heap of the malloc library nor its
// bootstrap arena owns (ld.so's start-up allocator, another allocator, garbage). The library
// ignores them; the count is part of `pas_malloc_ignored_frees`.
#ifndef PAS_MALLOC_FOREIGN_FREES_H
#define PAS_MALLOC_FOREIGN_FREES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Counts one foreign free. A relaxed atomic increment; any thread.
void pas_malloc_count_foreign_free(void);

/// The foreign frees counted so far. A relaxed atomic load; any thread.
size_t pas_malloc_foreign_frees(void);

#ifdef __cplusplus
}
#endif

#endif
