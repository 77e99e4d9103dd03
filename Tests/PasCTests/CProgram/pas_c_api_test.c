/*
 * A C program against pas.h and libPasC: JIT heaps through pas_jit_heap_*, the error
 * model, and libpas's jit_heap_* names with fresh memory. Built and run by
 * Tests/PasCTests/CProgramTests.swift; prints one line per failed check and exits non-zero
 * if any failed.
 */
#define _GNU_SOURCE
#include "pas.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"

typedef int (*int_function)(void);

/* mov eax, value; ret (x86-64) or movz w0, #value; ret (arm64): 8 bytes at most. */
static size_t return_constant(uint8_t* out, uint16_t value)
{
#if defined(__x86_64__)
    uint8_t code[] = { 0xB8, (uint8_t)value, (uint8_t)(value >> 8), 0, 0, 0xC3 };
    memcpy(out, code, sizeof(code));
    return sizeof(code);
#elif defined(__aarch64__)
    uint32_t code[] = { 0x52800000u | ((uint32_t)value << 5), 0xD65F03C0u };
    memcpy(out, code, sizeof(code));
    return sizeof(code);
#else
#error "return_constant: unknown architecture"
#endif
}

static int call(void* code)
{
    int_function function;
    memcpy(&function, &code, sizeof(function));
    return function();
}

static void write_seven(void* writable, size_t size, void* context)
{
    size_t* seen_size = context;
    *seen_size = size;
    return_constant(writable, 7);
}

static void* error_on_other_thread(void* unused)
{
    (void)unused;
    /* The main thread has an error recorded; this thread must not see it. */
    CHECK(pas_last_error() == PAS_OK);
    CHECK(strcmp(pas_last_error_message(), "") == 0);
    CHECK(pas_jit_heap_allocate(NULL, 16, 0) == NULL);
    CHECK(pas_last_error() == PAS_ERROR_INVALID_ARGUMENT);
    return NULL;
}

static void test_own_heap(void)
{
    uint8_t code[8];
    int local = 0;

    pas_clear_last_error();
    CHECK(pas_last_error() == PAS_OK);
    CHECK(strcmp(pas_last_error_message(), "") == 0);
    CHECK(strcmp(pas_error_name(PAS_ERROR_DOUBLE_FREE), "PAS_ERROR_DOUBLE_FREE") == 0);
    CHECK(strcmp(pas_error_name((pas_error_code)999), "PAS_ERROR_UNKNOWN_CODE") == 0);

    pas_jit_heap_options options;
    memset(&options, 0xAB, sizeof(options));
    pas_jit_heap_options_init(&options);
    CHECK(options.region_size == 256u << 20);
    CHECK(options.protection_modes[0] == PAS_JIT_PROTECTION_DUAL_MAPPED);
    CHECK(options.protection_modes[1] == 0);
    CHECK(options.fill == PAS_JIT_FILL_TRAP);
    CHECK(options.reserved == 0);

    /* Bad options are refused without a heap. */
    options.protection_modes[0] = 99;
    errno = 0;
    CHECK(pas_jit_heap_create(&options) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    pas_jit_heap_options_init(&options);
    options.reserved = 1;
    CHECK(pas_jit_heap_create(&options) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);

    pas_jit_heap_options_init(&options);
    options.region_size = 4u << 20;
    options.protection_modes[0] = PAS_JIT_PROTECTION_DUAL_MAPPED;
    options.protection_modes[1] = PAS_JIT_PROTECTION_RWX;
    pas_jit_heap* heap = pas_jit_heap_create(&options);
    CHECK(heap != NULL);
    if (!heap)
        return;
    pas_jit_protection_mode mode = pas_jit_heap_protection_mode(heap);
    CHECK(mode == PAS_JIT_PROTECTION_DUAL_MAPPED || mode == PAS_JIT_PROTECTION_RWX);

    /* Allocate, write, run. */
    void* block = pas_jit_heap_allocate(heap, 64, 0);
    CHECK(block != NULL);
    CHECK(((uintptr_t)block & 15) == 0);
    size_t size = pas_jit_heap_get_size(heap, block);
    CHECK(size >= 64);
    CHECK(pas_jit_heap_contains(heap, block));
    CHECK(pas_jit_heap_contains(heap, (char*)block + 10));
    CHECK(!pas_jit_heap_contains(heap, &local));
    CHECK(!pas_jit_heap_contains(NULL, block));
    size_t length = return_constant(code, 42);
    CHECK(pas_jit_heap_write(heap, block, 0, code, length) == PAS_OK);
    CHECK(call(block) == 42);

    /* Publishing in one step. */
    void* installed = pas_jit_heap_install(heap, code, length, 0);
    CHECK(installed != NULL);
    CHECK(call(installed) == 42);
    CHECK(pas_jit_heap_install(heap, NULL, 4, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    CHECK(pas_jit_heap_install(heap, code, length, 24) == NULL);
    CHECK(pas_jit_heap_deallocate(heap, installed) == PAS_OK);

    /* Writing through a callback. */
    size_t seen = 0;
    CHECK(pas_jit_heap_with_writable_bytes(heap, block, write_seven, &seen) == PAS_OK);
    CHECK(seen == size);
    CHECK(call(block) == 7);
    CHECK(pas_jit_heap_with_writable_bytes(heap, block, NULL, NULL) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);

    /* Statistics. */
    pas_jit_heap_statistics stats;
    memset(&stats, 0xAB, sizeof(stats));
    CHECK(pas_jit_heap_get_statistics(heap, &stats) == PAS_OK);
    CHECK(stats.protection_mode == (uint32_t)mode);
    CHECK(stats.block_count == 1);
    CHECK(stats.live_bytes >= 64);
    CHECK(stats.reserved_bytes == 4u << 20);
    CHECK(stats.used_address_space > 0);
    CHECK(stats.resident_code_bytes == -1 || mode == PAS_JIT_PROTECTION_DUAL_MAPPED);
    CHECK(pas_jit_heap_get_statistics(heap, NULL) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);

    /* Writes out of bounds and bad sizes. */
    CHECK(pas_jit_heap_write(heap, block, size - 2, code, length) == PAS_ERROR_OUT_OF_BOUNDS);
    CHECK_ERROR(PAS_ERROR_OUT_OF_BOUNDS, EINVAL);
    CHECK(pas_jit_heap_write(heap, block, SIZE_MAX, code, length) == PAS_ERROR_OUT_OF_BOUNDS);
    CHECK_ERROR(PAS_ERROR_OUT_OF_BOUNDS, EINVAL);
    CHECK(pas_jit_heap_write(heap, block, 0, NULL, 4) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    CHECK(call(block) == 7);

    /* Shrink. */
    void* big = pas_jit_heap_allocate(heap, 4000, 64);
    CHECK(big != NULL && ((uintptr_t)big & 63) == 0);
    CHECK(pas_jit_heap_write(heap, big, 0, code, return_constant(code, 9)) == PAS_OK);
    CHECK(pas_jit_heap_shrink(heap, big, 16) == PAS_OK);
    size_t shrunk = pas_jit_heap_get_size(heap, big);
    CHECK(shrunk >= 16 && shrunk < 4000);
    CHECK(call(big) == 9);
    CHECK(pas_jit_heap_shrink(heap, big, 0) == PAS_ERROR_INVALID_SIZE);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_jit_heap_shrink(heap, big, shrunk + 1) == PAS_ERROR_INVALID_SIZE);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_jit_heap_shrink(heap, &local, 8) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);

    /* Bad allocations. */
    errno = 0;
    CHECK(pas_jit_heap_allocate(heap, 0, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_jit_heap_allocate(heap, SIZE_MAX, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_jit_heap_allocate(heap, (size_t)1 << 40, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_OUT_OF_MEMORY, ENOMEM);
    CHECK(pas_jit_heap_allocate(heap, 64, 24) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ALIGNMENT, EINVAL);
    CHECK(pas_jit_heap_allocate(NULL, 64, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);

    /* Errors are per thread. */
    CHECK(pas_jit_heap_get_size(heap, &local) == 0);
    CHECK(pas_last_error() == PAS_ERROR_UNKNOWN_POINTER);
    CHECK(pas_last_error_address() == (uintptr_t)&local);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, error_on_other_thread, NULL) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(pas_last_error() == PAS_ERROR_UNKNOWN_POINTER);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);

    /* A success leaves the last error alone. */
    CHECK(pas_jit_heap_deallocate(heap, NULL) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK(pas_jit_heap_get_size(heap, block) == size);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);

    /* Bad frees. */
    CHECK(pas_jit_heap_deallocate(heap, &local) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(pas_jit_heap_deallocate(heap, (char*)block + 16) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(call(block) == 7);
    CHECK(pas_jit_heap_deallocate(heap, block) == PAS_OK);
    CHECK(pas_jit_heap_contains(heap, block));
    CHECK(pas_jit_heap_deallocate(heap, block) == PAS_ERROR_DOUBLE_FREE);
    CHECK(pas_last_error_address() == (uintptr_t)block);
    CHECK_ERROR(PAS_ERROR_DOUBLE_FREE, EINVAL);
    CHECK(pas_jit_heap_get_size(heap, block) == 0);
    CHECK_ERROR(PAS_ERROR_DOUBLE_FREE, EINVAL);
    CHECK(pas_jit_heap_deallocate(heap, big) == PAS_OK);

    size_t decommitted = 12345;
    CHECK(pas_jit_heap_scavenge(heap, &decommitted) == PAS_OK);
    CHECK(decommitted != 12345);
    CHECK(pas_jit_heap_scavenge(heap, NULL) == PAS_OK);
    CHECK(pas_jit_heap_verify(heap) == PAS_OK);
    CHECK(pas_jit_heap_get_statistics(heap, &stats) == PAS_OK);
    CHECK(stats.block_count == 0 && stats.live_bytes == 0);

    CHECK(pas_jit_heap_destroy(heap) == PAS_OK);
    CHECK(pas_jit_heap_destroy(NULL) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    CHECK(pas_jit_heap_destroy(pas_jit_heap_process_heap()) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
}

static void test_libpas_names(void)
{
    uint8_t code[8];
    int local = 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    pas_jit_heap* process = pas_jit_heap_process_heap();
    CHECK(process != NULL);
    CHECK(pas_jit_heap_protection_mode(process) == PAS_JIT_PROTECTION_RWX);

    /* No fresh memory yet: nothing to allocate from. */
    pas_clear_last_error();
    CHECK(jit_heap_try_allocate(64) == NULL);
    CHECK_ERROR(PAS_ERROR_OUT_OF_MEMORY, ENOMEM);

    /* The runtime maps executable memory and donates it. */
    size_t fresh_size = 4u << 20;
    void* fresh = mmap(NULL, fresh_size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(fresh != MAP_FAILED);
    if (fresh == MAP_FAILED)
        return;
    pas_range range = { (uintptr_t)fresh, (uintptr_t)fresh + fresh_size };
    jit_heap_add_fresh_memory(range);
    CHECK(pas_last_error() == PAS_OK);
    CHECK(pas_jit_heap_contains(process, fresh));
    CHECK(!pas_jit_heap_contains(process, (char*)fresh + fresh_size));

    /* Misaligned, empty and overlapping donations are refused. */
    pas_range misaligned = { (uintptr_t)fresh + 1, (uintptr_t)fresh + page + 1 };
    jit_heap_add_fresh_memory(misaligned);
    CHECK_ERROR(PAS_ERROR_MISALIGNED, EINVAL);
    pas_range empty = { (uintptr_t)fresh, (uintptr_t)fresh };
    jit_heap_add_fresh_memory(empty);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    jit_heap_add_fresh_memory(range);
    CHECK_ERROR(PAS_ERROR_OUTSIDE_RESERVATION, EINVAL);

    /* Allocate, write directly (the runtime owns the permissions), run. */
    void* object = jit_heap_try_allocate(100);
    CHECK(object != NULL);
    if (!object)
        return;
    CHECK((uintptr_t)object >= range.begin && (uintptr_t)object < range.end);
    CHECK(jit_heap_get_size(object) >= 100);
    size_t length = return_constant(code, 42);
    memcpy(object, code, length);
    __builtin___clear_cache((char*)object, (char*)object + length);
    CHECK(call(object) == 42);

    /* Shrink keeps the code in place. */
    void* big = jit_heap_try_allocate(5000);
    CHECK(big != NULL);
    size_t before = jit_heap_get_size(big);
    CHECK(before >= 5000);
    jit_heap_shrink(big, 100);
    CHECK(pas_last_error() == PAS_OK);
    size_t after = jit_heap_get_size(big);
    CHECK(after >= 100 && after < before);
    jit_heap_shrink(big, after + 1);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    jit_heap_shrink(&local, 8);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);

    /* Size 0 gives the smallest block, as in libpas; huge sizes give NULL. */
    void* tiny = jit_heap_try_allocate(0);
    CHECK(tiny != NULL && jit_heap_get_size(tiny) > 0);
    CHECK(jit_heap_try_allocate(SIZE_MAX) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(jit_heap_try_allocate(fresh_size * 2) == NULL);
    CHECK_ERROR(PAS_ERROR_OUT_OF_MEMORY, ENOMEM);

    /* Statistics of the process-wide heap through the pas_jit_heap_* view. */
    pas_jit_heap_statistics stats;
    CHECK(pas_jit_heap_get_statistics(process, &stats) == PAS_OK);
    CHECK(stats.reserved_bytes == fresh_size);
    CHECK(stats.block_count == 3);
    CHECK(stats.resident_code_bytes == -1);

    /* Bad input never crashes: it is recorded. */
    CHECK(jit_heap_get_size(&local) == 0);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(jit_heap_get_size(NULL) == 0);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    jit_heap_deallocate(NULL);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    jit_heap_deallocate(&local);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);

    CHECK(call(object) == 42);
    jit_heap_deallocate(object);
    CHECK(pas_last_error() == PAS_OK);
    /* Freed code is left as it is: the heap never writes to donated memory on its own. */
    CHECK(memcmp(object, code, length) == 0);
    jit_heap_deallocate(object);
    CHECK_ERROR(PAS_ERROR_DOUBLE_FREE, EINVAL);
    jit_heap_deallocate(big);
    jit_heap_deallocate(tiny);
    CHECK(pas_last_error() == PAS_OK);
    CHECK(pas_jit_heap_verify(process) == PAS_OK);
    CHECK(pas_jit_heap_get_statistics(process, &stats) == PAS_OK);
    CHECK(stats.block_count == 0);
}

int main(void)
{
    test_own_heap();
    test_libpas_names();
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
