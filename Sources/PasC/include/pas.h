/*
 * Pas C API (libPasC): everything in one include.
 *
 *   pas_error.h     error codes and the calling thread's last error (the error model)
 *   pas_jit_heap.h  pas_jit_heap_*: JIT heaps a runtime creates and owns
 *   jit_heap.h      libpas's jit_heap_* names over one process-wide JIT heap
 *   pas_heap.h      pas_heap_*: general heaps (any size, checked) in a cage
 *   pas_typed_heap.h pas_typed_heap_*: heaps of one object size whose memory holds no other type
 *
 * The malloc-compatible functions are in libpasmalloc (a library of their own).
 *
 * Build: cc -I<package>/Sources/PasC/include prog.c -L<build dir> -lPasC
 */
#ifndef PAS_H
#define PAS_H

#include "pas_error.h"
#include "pas_jit_heap.h"
#include "jit_heap.h"
#include "pas_heap.h"
#include "pas_typed_heap.h"

#endif /* PAS_H */
