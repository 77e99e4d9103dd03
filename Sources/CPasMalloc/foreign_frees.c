#include "pas_malloc_foreign_frees.h"

static size_t foreign_frees = 0;

void pas_malloc_count_foreign_free(void) {
    __atomic_add_fetch(&foreign_frees, 1, __ATOMIC_RELAXED);
}

size_t pas_malloc_foreign_frees(void) {
    return __atomic_load_n(&foreign_frees, __ATOMIC_RELAXED);
}
