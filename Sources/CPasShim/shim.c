#define _GNU_SOURCE
#include "CPasShim.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

__thread void *pas_shim_thread_slot __attribute__((tls_model("initial-exec"))) = NULL;

int pas_shim_memfd_create(const char *name) {
    unsigned flags = MFD_CLOEXEC;
    int fd = (int)syscall(SYS_memfd_create, name, flags | MFD_NOEXEC_SEAL);
    if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_memfd_create, name, flags);
    return fd;
}

int pas_shim_punch_hole(int fd, int64_t offset, int64_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}

int64_t pas_shim_seek_data(int fd, int64_t offset, bool hole) {
    return (int64_t)lseek(fd, (off_t)offset, hole ? SEEK_HOLE : SEEK_DATA);
}

int64_t pas_shim_copy_file_range(int from, int64_t fromOffset, int to, int64_t toOffset, size_t length) {
#ifdef SYS_copy_file_range
    int64_t in = fromOffset, out = toOffset;
    return (int64_t)syscall(SYS_copy_file_range, from, &in, to, &out, length, 0U);
#else
    errno = ENOSYS;
    return -1;
#endif
}

// The pthread key exists only to run the destructor at thread exit; the value itself
// lives in the initial-exec slot above.
static pthread_key_t pas_shim_slot_key;
static pthread_once_t pas_shim_slot_once = PTHREAD_ONCE_INIT;
static void (*pas_shim_slot_destructor)(void *);
static int pas_shim_slot_key_error;

static void pas_shim_slot_run_destructor(void *value) {
    pas_shim_thread_slot = NULL;
    if (pas_shim_slot_destructor && value) pas_shim_slot_destructor(value);
}

static void pas_shim_slot_make_key(void) {
    pas_shim_slot_key_error = pthread_key_create(&pas_shim_slot_key, pas_shim_slot_run_destructor);
}

int pas_shim_thread_slot_set_destructor(void (*destructor)(void *)) {
    pthread_once(&pas_shim_slot_once, pas_shim_slot_make_key);
    if (pas_shim_slot_key_error) return pas_shim_slot_key_error;
    if (!pas_shim_slot_destructor) pas_shim_slot_destructor = destructor;
    return 0;
}

void pas_shim_thread_slot_arm_destructor(void *value) {
    pthread_once(&pas_shim_slot_once, pas_shim_slot_make_key);
    if (!pas_shim_slot_key_error) pthread_setspecific(pas_shim_slot_key, value);
}

int32_t pas_shim_gettid(void) { return (int32_t)syscall(SYS_gettid); }

int pas_shim_futex_wait(uint32_t *word, uint32_t expected) {
    return (int)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

int pas_shim_futex_wake(uint32_t *word, int count) {
    return (int)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

// MARK: malloc start-up

void *pas_shim_malloc_heap = NULL;
__thread int pas_shim_malloc_depth __attribute__((tls_model("initial-exec"))) = 0;
// 0: not started, 1: creating the heap (pas_shim_malloc_creator), 2: published, 3: failed,
// 4: maintenance by pas_shim_malloc_creator (the heap pointer reads NULL meanwhile).
static int pas_shim_malloc_state = 0;
static int32_t pas_shim_malloc_creator = 0;
static size_t pas_shim_malloc_ignored = 0;
// Set by the constructor below. A preloaded malloc is called before the Swift runtime's and the
// library's own constructors have run (libstdc++ allocates its emergency pool first); creating
// Swift objects then crashes, so until this constructor runs every allocation is bootstrap
// memory. Constructors of a shared object run after those of its dependencies (the Swift
// runtime), and this object file is linked after the Swift image registration object, so its
// constructor runs after that one too.
// volatile: an optimiser may otherwise evaluate the constructor at compile time and start the
// flag at 1.
static volatile int pas_shim_malloc_runtime_ready = 0;

// Defined by PasMalloc (absent elsewhere): creates the heap from the constructor below, so that
// the heap is not first created by a malloc the Swift runtime makes while holding its own locks
// (the executable's image registration does), which would deadlock on those locks.
extern void pas_malloc_create_heap(void) __attribute__((weak));

__attribute__((constructor)) static void pas_shim_malloc_mark_runtime_ready(void) {
    __atomic_store_n(&pas_shim_malloc_runtime_ready, 1, __ATOMIC_RELEASE);
    if (pas_malloc_create_heap) pas_malloc_create_heap();
}

int pas_shim_malloc_start_enter(void) {
    for (;;) {
        int state = __atomic_load_n(&pas_shim_malloc_state, __ATOMIC_ACQUIRE);
        if (state == 2) return 0;
        if (state == 3) return -1;
        if (state == 0) {
            if (!__atomic_load_n(&pas_shim_malloc_runtime_ready, __ATOMIC_ACQUIRE)) return -1;
            int expected = 0;
            if (__atomic_compare_exchange_n(&pas_shim_malloc_state, &expected, 1, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                __atomic_store_n(&pas_shim_malloc_creator, pas_shim_gettid(), __ATOMIC_RELEASE);
                return 1;
            }
            continue;
        }
        if (__atomic_load_n(&pas_shim_malloc_creator, __ATOMIC_ACQUIRE) == pas_shim_gettid()) return state == 4 ? -2 : -1;
        sched_yield();
    }
}

void pas_shim_malloc_start_finish(void *heap) {
    if (heap) __atomic_store_n(&pas_shim_malloc_heap, heap, __ATOMIC_RELEASE);
    __atomic_store_n(&pas_shim_malloc_state, heap ? 2 : 3, __ATOMIC_RELEASE);
}

void *pas_shim_malloc_aux_heap = NULL;
static void *pas_shim_malloc_saved_heap = NULL;

void pas_shim_malloc_maintenance_begin(void) {
    for (;;) {
        int expected = 2;
        if (__atomic_compare_exchange_n(&pas_shim_malloc_state, &expected, 4, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) break;
        sched_yield();
    }
    __atomic_store_n(&pas_shim_malloc_creator, pas_shim_gettid(), __ATOMIC_RELEASE);
    pas_shim_malloc_saved_heap = pas_shim_malloc_heap;
    __atomic_store_n(&pas_shim_malloc_heap, NULL, __ATOMIC_RELEASE);
}

void pas_shim_malloc_maintenance_end(void) {
    __atomic_store_n(&pas_shim_malloc_heap, pas_shim_malloc_saved_heap, __ATOMIC_RELEASE);
    __atomic_store_n(&pas_shim_malloc_state, 2, __ATOMIC_RELEASE);
}

void pas_shim_malloc_reset_after_fork(void) {
    int state = __atomic_load_n(&pas_shim_malloc_state, __ATOMIC_ACQUIRE);
    if (state == 1) {
        // The creating thread does not exist here: start over (the next call creates a heap).
        __atomic_store_n(&pas_shim_malloc_heap, NULL, __ATOMIC_RELEASE);
        __atomic_store_n(&pas_shim_malloc_state, 0, __ATOMIC_RELEASE);
    } else if (state == 4) {
        // A maintenance call of a thread that does not exist here: its heap is consistent (the
        // fork held every heap lock), so publish it again.
        __atomic_store_n(&pas_shim_malloc_heap, pas_shim_malloc_saved_heap, __ATOMIC_RELEASE);
        __atomic_store_n(&pas_shim_malloc_state, 2, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&pas_shim_malloc_creator, 0, __ATOMIC_RELEASE);
}

#define PAS_SHIM_BOOTSTRAP_BYTES ((size_t)64 << 20)
static uintptr_t pas_shim_bootstrap_base = 0;
static size_t pas_shim_bootstrap_cursor = 0;

void *pas_shim_bootstrap_allocate(size_t size, size_t alignment) {
    if (alignment < 16) alignment = 16;
    if (size == 0) size = 1;
    if (size > PAS_SHIM_BOOTSTRAP_BYTES || alignment > ((size_t)1 << 20) || (alignment & (alignment - 1))) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t base = __atomic_load_n(&pas_shim_bootstrap_base, __ATOMIC_ACQUIRE);
    if (!base) {
        void *raw = mmap(NULL, PAS_SHIM_BOOTSTRAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) { errno = ENOMEM; return NULL; }
        uintptr_t expected = 0;
        if (__atomic_compare_exchange_n(&pas_shim_bootstrap_base, &expected, (uintptr_t)raw, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            base = (uintptr_t)raw;
        } else {
            munmap(raw, PAS_SHIM_BOOTSTRAP_BYTES);
            base = expected;
        }
    }
    for (;;) {
        size_t offset = __atomic_load_n(&pas_shim_bootstrap_cursor, __ATOMIC_RELAXED);
        size_t object = (offset + 16 + alignment - 1) & ~(alignment - 1);
        if (object > PAS_SHIM_BOOTSTRAP_BYTES || size > PAS_SHIM_BOOTSTRAP_BYTES - object) { errno = ENOMEM; return NULL; }
        size_t end = (object + size + 15) & ~(size_t)15;
        if (__atomic_compare_exchange_n(&pas_shim_bootstrap_cursor, &offset, end, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            // [object - 16, end) belongs to this call alone; the size word precedes the block.
            *(size_t *)(base + object - 16) = size;
            return (void *)(base + object);
        }
    }
}

bool pas_shim_bootstrap_contains(const void *pointer) {
    uintptr_t base = __atomic_load_n(&pas_shim_bootstrap_base, __ATOMIC_ACQUIRE);
    return base && (uintptr_t)pointer - base < PAS_SHIM_BOOTSTRAP_BYTES;
}

size_t pas_shim_bootstrap_size(const void *pointer) {
    uintptr_t base = __atomic_load_n(&pas_shim_bootstrap_base, __ATOMIC_ACQUIRE);
    size_t offset = (uintptr_t)pointer - base;
    if (!base || offset < 16 || offset >= PAS_SHIM_BOOTSTRAP_BYTES) return 0;
    size_t recorded;
    __builtin_memcpy(&recorded, (const char *)pointer - 16, sizeof recorded);
    size_t room = PAS_SHIM_BOOTSTRAP_BYTES - offset;
    return recorded < room ? recorded : room;
}

size_t pas_shim_malloc_ignored_frees(int add) {
    if (add) return __atomic_add_fetch(&pas_shim_malloc_ignored, 1, __ATOMIC_RELAXED);
    return __atomic_load_n(&pas_shim_malloc_ignored, __ATOMIC_RELAXED);
}

int pas_shim_pin_current_thread(int cpu) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)(cpu % online), &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}
