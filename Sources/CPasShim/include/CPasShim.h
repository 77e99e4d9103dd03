// CPasShim: the few lines of C that Swift cannot express directly.
//
// Everything here is either a raw system call wrapper whose constant or
// prototype Glibc's Swift overlay lacks, or an inline accessor that must be
// compiled by clang with a particular code model (initial-exec TLS, cache
// flush builtin). Keep it small: logic belongs in Swift.
#ifndef CPASSHIM_H
#define CPASSHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: memfd and fallocate

/// memfd_create(2) with MFD_CLOEXEC always set, and MFD_NOEXEC_SEAL (Linux 6.3 and later: the
/// file has no execute bits and can never get them, so its descriptor cannot be executed)
/// when the kernel accepts it; a kernel that refuses the flag with EINVAL gets the call
/// without it. Returns a file descriptor or -1 with errno set.
int pas_shim_memfd_create(const char *name);

/// fallocate(2) with FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: frees the file's pages in
/// [offset, offset + length) without changing the file size. Returns 0 or -1 with errno set.
int pas_shim_punch_hole(int fd, int64_t offset, int64_t length);
/// `lseek(fd, offset, SEEK_DATA)` (`hole` false) or `SEEK_HOLE` (`hole` true): the next offset at
/// or after `offset` that holds data (or is a hole); -1 with errno (ENXIO: no data up to the end).
int64_t pas_shim_seek_data(int fd, int64_t offset, bool hole);
/// `copy_file_range(from, &fromOffset, to, &toOffset, length, 0)`: bytes copied, or -1 with errno.
int64_t pas_shim_copy_file_range(int from, int64_t fromOffset, int to, int64_t toOffset, size_t length);

// MARK: instruction cache

/// Makes instructions written to [begin, end) visible to instruction fetch on this thread.
/// A compiler fence on x86-64 (coherent instruction cache); cache maintenance on arm64.
static inline void pas_shim_flush_icache(void *begin, void *end) {
    __builtin___clear_cache((char *)begin, (char *)end);
}

// MARK: thread-local slot
//
// One pointer per thread, in the initial-exec TLS model: reading it is a single
// %fs-relative load (x86-64) or a tpidr_el0-relative load (arm64), with no call to
// __tls_get_addr. The accessors are `static inline` so that Swift inlines them.
// The slot belongs to the allocator's thread cache; nothing else may use it.

extern __thread void *pas_shim_thread_slot __attribute__((tls_model("initial-exec")));

static inline __attribute__((always_inline)) void *pas_shim_thread_slot_get(void) {
    return pas_shim_thread_slot;
}

static inline __attribute__((always_inline)) void pas_shim_thread_slot_set(void *value) {
    pas_shim_thread_slot = value;
}

/// Registers `destructor` to run with the slot's value when a thread whose slot is non-null
/// exits (through a pthread key). Safe to call more than once; only the first call counts.
/// Returns 0 or an errno value.
int pas_shim_thread_slot_set_destructor(void (*destructor)(void *));

/// Marks the calling thread as having a non-null slot so that the destructor runs at exit.
void pas_shim_thread_slot_arm_destructor(void *value);

// MARK: futex

/// Blocks while *word == expected (FUTEX_WAIT_PRIVATE). Returns 0, or -1 with errno set
/// (EAGAIN when the word already differs, EINTR on a signal).
int pas_shim_futex_wait(uint32_t *word, uint32_t expected);

/// Wakes up to `count` waiters blocked on `word` (FUTEX_WAKE_PRIVATE).
int pas_shim_futex_wake(uint32_t *word, int count);

// MARK: misc

/// Pins the calling thread to `cpu` (sched_setaffinity, a GNU extension Glibc's overlay does
/// not expose). Returns 0 or an errno value. Used by the benchmark's two-thread workloads.
int pas_shim_pin_current_thread(int cpu);

#ifdef __cplusplus
}
#endif

#endif
