/*
 * Pas C API (libPasC): everything in one include.
 *
 *   pas_error.h     error codes and the calling thread's last error (the error model)
 *   pas_jit_heap.h  pas_jit_heap_*: JIT heaps a runtime creates and owns
 *   jit_heap.h      libpas's jit_heap_* names over one process-wide JIT heap
 *
 * General heaps (pas_heap_*) and the malloc-compatible functions will get headers of their
 * own beside these, using the same error model.
 *
 * Build: cc -I<package>/Sources/PasC/include prog.c -L<build dir> -lPasC
 */
#ifndef PAS_H
#define PAS_H

#include "pas_error.h"
#include "pas_jit_heap.h"
#include "jit_heap.h"

#endif /* PAS_H */
