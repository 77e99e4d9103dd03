/*
 * Pas C API: error codes and the calling thread's last error.
 *
 * Error model (one rule for every function of libPasC):
 *   - A function that fails returns its failure value (NULL, 0, false, or a pas_error_code
 *     other than PAS_OK, as each declaration says), records the error in the calling
 *     thread's last-error record and sets errno.
 *   - A function that succeeds leaves the last-error record and errno unchanged (like errno
 *     itself), so read them only after a call reported failure, or clear them first with
 *     pas_clear_last_error().
 *   - The record is per thread: errors on one thread never show on another.
 *   - Bad input (NULL, foreign or interior pointers, double frees, zero or huge sizes,
 *     alignments that are not powers of two) is reported this way; it never crashes the
 *     process and never corrupts a heap.
 *
 * errno is set as follows: PAS_ERROR_SYSTEM carries the errno of the failed system call;
 * PAS_ERROR_OUT_OF_MEMORY sets ENOMEM; PAS_ERROR_UNSUPPORTED sets ENOTSUP;
 * PAS_ERROR_CORRUPTED sets EIO; every other error sets EINVAL.
 */
#ifndef PAS_ERROR_H
#define PAS_ERROR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What went wrong. Values are stable: new codes are only ever appended. */
typedef enum pas_error_code {
    PAS_OK = 0,
    /* A system call failed; pas_last_error_errno() tells which errno. */
    PAS_ERROR_SYSTEM = 1,
    /* A size of zero, one too large to represent or round, or larger than the block. */
    PAS_ERROR_INVALID_SIZE = 2,
    /* An alignment that is not a power of two, or larger than supported. */
    PAS_ERROR_INVALID_ALIGNMENT = 3,
    /* An address that is not aligned as the operation requires (e.g. fresh memory not page aligned). */
    PAS_ERROR_MISALIGNED = 4,
    /* A range that overlaps memory the heap already has, or lies outside its reservations. */
    PAS_ERROR_OUTSIDE_RESERVATION = 5,
    /* Release of a range that is not reserved. */
    PAS_ERROR_NOT_RESERVED = 6,
    /* The heap cannot satisfy the request (its memory is used up). */
    PAS_ERROR_OUT_OF_MEMORY = 7,
    /* A pointer the heap never handed out, or one pointing inside a block. */
    PAS_ERROR_UNKNOWN_POINTER = 8,
    /* A block that is already free. */
    PAS_ERROR_DOUBLE_FREE = 9,
    /* A write that would reach outside its block. */
    PAS_ERROR_OUT_OF_BOUNDS = 10,
    /* The system or configuration refuses the feature (e.g. every protection mode refused). */
    PAS_ERROR_UNSUPPORTED = 11,
    /* A heap's metadata breaks an invariant (found by a verify call). */
    PAS_ERROR_CORRUPTED = 12,
    /* A NULL heap, a NULL out-parameter, or options with an unknown value. */
    PAS_ERROR_INVALID_ARGUMENT = 13,
    /* A heap handle that was destroyed (even if a new heap now exists), a handle of another
       kind (a pas_heap* passed as a pas_jit_heap*), or a value that was never a handle.
       Handles are checked against a table, so such a call touches no memory and never
       reaches another heap. */
    PAS_ERROR_INVALID_HANDLE = 14
} pas_error_code;

/* The code of the calling thread's last recorded error, or PAS_OK if none since the
   thread started or since pas_clear_last_error(). Cost: one thread-local lookup. */
pas_error_code pas_last_error(void);

/* The errno that went with the last recorded error (0 if none). */
int pas_last_error_errno(void);

/* The address the last recorded error names (the offending pointer or range start), or 0. */
uintptr_t pas_last_error_address(void);

/* A human-readable description of the last recorded error, naming the operation, e.g.
   "deallocate: 0x7f0000001000 is already free (double free)"; "" if none. The string
   belongs to the calling thread and stays valid until the thread's next failing call or
   pas_clear_last_error(); copy it to keep it. Never NULL. */
const char* pas_last_error_message(void);

/* Resets the calling thread's last-error record to PAS_OK. */
void pas_clear_last_error(void);

/* The name of a code, e.g. "PAS_ERROR_DOUBLE_FREE"; a static string, never NULL
   ("PAS_ERROR_UNKNOWN_CODE" for values not listed above). Thread-safe. */
const char* pas_error_name(pas_error_code code);

#ifdef __cplusplus
}
#endif

#endif /* PAS_ERROR_H */
