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

int pas_shim_futex_wait(uint32_t *word, uint32_t expected) {
    return (int)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

int pas_shim_futex_wake(uint32_t *word, int count) {
    return (int)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

int pas_shim_pin_current_thread(int cpu) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)(cpu % online), &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}
