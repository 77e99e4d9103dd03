#include "pas_malloc_entry_depth.h"

__thread int pas_malloc_depth __attribute__((tls_model("initial-exec"))) = 0;
