/*
 * A C program against pas.h and libPasC: general heaps (pas_heap_*) and typed heaps
 * (pas_typed_heap_*), including the errors bad calls report. Built and run by
 * Tests/PasCTests/CProgramTests.swift; prints one line per failed check and exits non-zero
 * if any failed.
 */
#include "pas.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static int all_bytes_are(const void* memory, size_t size, unsigned char value)
{
    const unsigned char* bytes = memory;
    for (size_t i = 0; i < size; i++) {
        if (bytes[i] != value)
            return 0;
    }
    return 1;
}

static void test_sizes(pas_heap* heap)
{
    static const struct { size_t size; pas_heap_region region; } cases[] = {
        { 1, PAS_HEAP_REGION_SMALL }, { 100, PAS_HEAP_REGION_SMALL }, { 2048, PAS_HEAP_REGION_SMALL },
        { 2049, PAS_HEAP_REGION_MEDIUM }, { 16384, PAS_HEAP_REGION_MEDIUM },
        { 16385, PAS_HEAP_REGION_MARGE }, { 655360, PAS_HEAP_REGION_MARGE },
        { 655361, PAS_HEAP_REGION_LARGE }, { 8u << 20, PAS_HEAP_REGION_LARGE },
    };
    void* blocks[sizeof(cases) / sizeof(cases[0])];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        blocks[i] = pas_heap_allocate(heap, cases[i].size, 0);
        CHECK(blocks[i] != NULL);
        if (!blocks[i])
            continue;
        CHECK(((uintptr_t)blocks[i] & 15) == 0);
        CHECK(pas_heap_region_of(heap, blocks[i]) == cases[i].region);
        CHECK(pas_heap_get_size(heap, blocks[i]) >= cases[i].size);
        CHECK(pas_heap_contains(heap, blocks[i]));
        memset(blocks[i], (int)i + 1, cases[i].size);
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!blocks[i])
            continue;
        CHECK(all_bytes_are(blocks[i], cases[i].size, (unsigned char)(i + 1)));
        CHECK(pas_heap_deallocate(heap, blocks[i]) == PAS_OK);
    }

    void* aligned = pas_heap_allocate(heap, 1000, 4096);
    CHECK(aligned != NULL && ((uintptr_t)aligned & 4095) == 0);
    CHECK(pas_heap_deallocate(heap, aligned) == PAS_OK);
    aligned = pas_heap_allocate(heap, 100, 1u << 21);
    CHECK(aligned != NULL && ((uintptr_t)aligned & ((1u << 21) - 1)) == 0);
    CHECK(pas_heap_deallocate(heap, aligned) == PAS_OK);
}

static void test_reallocate(pas_heap* heap)
{
    unsigned char* block = pas_heap_allocate(heap, 16, 0);
    CHECK(block != NULL);
    if (!block)
        return;
    for (int i = 0; i < 16; i++)
        block[i] = (unsigned char)(i * 7);
    static const size_t sizes[] = { 1000, 10000, 100000, 2u << 20, 64, 16 };
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        unsigned char* moved = pas_heap_reallocate(heap, block, sizes[s]);
        CHECK(moved != NULL);
        if (!moved)
            break;
        block = moved;
        int same = 1;
        for (int i = 0; i < 16; i++)
            same &= block[i] == (unsigned char)(i * 7);
        CHECK(same);
        CHECK(pas_heap_get_size(heap, block) >= sizes[s]);
    }
    /* Failing reallocations leave the block live. */
    CHECK(pas_heap_reallocate(heap, block, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_heap_reallocate(heap, NULL, 16) == NULL);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(block[15] == 15 * 7);
    CHECK(pas_heap_deallocate(heap, block) == PAS_OK);
}

static void test_zeroed(pas_heap* heap)
{
    void* dirty = pas_heap_allocate(heap, 4000, 0);
    CHECK(dirty != NULL);
    memset(dirty, 0xEE, 4000);
    CHECK(pas_heap_deallocate(heap, dirty) == PAS_OK);
    void* zeroed = pas_heap_allocate_zeroed(heap, 250, 16, 0);
    CHECK(zeroed != NULL && all_bytes_are(zeroed, 4000, 0));
    CHECK(pas_heap_deallocate(heap, zeroed) == PAS_OK);
    zeroed = pas_heap_allocate_zeroed(heap, 1000, 1000, 0);
    CHECK(zeroed != NULL && all_bytes_are(zeroed, 1000000, 0));
    CHECK(pas_heap_deallocate(heap, zeroed) == PAS_OK);

    CHECK(pas_heap_allocate_zeroed(heap, SIZE_MAX / 2, 3, 0) == NULL);
    CHECK(strstr(pas_last_error_message(), "overflows") != NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_heap_allocate_zeroed(heap, (size_t)1 << 32, (size_t)1 << 32, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_heap_allocate_zeroed(heap, 0, 8, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
}

static void test_bad_calls(pas_heap* heap)
{
    int local = 0;
    CHECK(pas_heap_deallocate(heap, NULL) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(pas_heap_deallocate(heap, &local) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK(pas_last_error_address() == (uintptr_t)&local);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(pas_heap_get_size(heap, &local) == 0);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);

    static const size_t sizes[] = { 32, 4000, 50000, 1u << 20 };
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        char* block = pas_heap_allocate(heap, sizes[s], 0);
        CHECK(block != NULL);
        if (!block)
            continue;
        CHECK(pas_heap_deallocate(heap, block + 16) == PAS_ERROR_UNKNOWN_POINTER);
        CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
        CHECK(pas_heap_deallocate(heap, block) == PAS_OK);
        CHECK(pas_heap_deallocate(heap, block) == PAS_ERROR_DOUBLE_FREE);
        CHECK(pas_last_error_address() == (uintptr_t)block);
        CHECK_ERROR(PAS_ERROR_DOUBLE_FREE, EINVAL);
    }

    CHECK(pas_heap_allocate(heap, 0, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_heap_allocate(heap, SIZE_MAX, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_heap_allocate(heap, 16, 48) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ALIGNMENT, EINVAL);
    CHECK(pas_heap_allocate(heap, (size_t)2 << 30, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_OUT_OF_MEMORY, ENOMEM);
    CHECK(pas_heap_allocate(NULL, 16, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    CHECK(pas_heap_get_statistics(heap, NULL) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    CHECK(pas_heap_create(3u << 20) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_heap_destroy(NULL) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    CHECK(pas_heap_verify(heap) == PAS_OK);
}

static void test_cage(pas_heap* heap, size_t cage_bytes)
{
    int local = 0;
    void* block = pas_heap_allocate(heap, 64, 0);
    CHECK(block != NULL);
    CHECK(!pas_heap_contains(heap, &local));
    CHECK(!pas_heap_contains(NULL, block));
    CHECK(pas_heap_region_of(heap, &local) == PAS_HEAP_REGION_FOREIGN);
    void* clamped = pas_heap_clamp(heap, &local);
    CHECK(clamped != NULL && pas_heap_contains(heap, clamped));
    CHECK(pas_heap_contains(heap, pas_heap_clamp(heap, (void*)(uintptr_t)0x1234)));
    CHECK(pas_heap_clamp(heap, block) == block);
    CHECK(pas_heap_clamp(heap, (char*)block + 40) == (char*)block + 40);
    /* Clamping keeps the offset from the cage start modulo the cage size. */
    uintptr_t first = (uintptr_t)pas_heap_clamp(heap, (void*)(uintptr_t)cage_bytes);
    uintptr_t second = (uintptr_t)pas_heap_clamp(heap, (void*)(uintptr_t)(cage_bytes * 2 + 4096));
    CHECK(second - first == 4096 || first - second == cage_bytes - 4096);
    CHECK(pas_heap_clamp(NULL, block) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
    CHECK(pas_heap_deallocate(heap, block) == PAS_OK);
}

static void test_statistics(pas_heap* heap, size_t cage_bytes)
{
    pas_heap_statistics stats;
    CHECK(pas_heap_get_statistics(heap, &stats) == PAS_OK);
    CHECK(stats.cage_bytes == cage_bytes);
    CHECK(stats.small.page_size == 16384);
    CHECK(stats.medium.page_size == 131072);
    void* small[500];
    for (int i = 0; i < 500; i++)
        small[i] = pas_heap_allocate(heap, 200, 0);
    void* large = pas_heap_allocate(heap, 3u << 20, 0);
    CHECK(large != NULL);
    memset(large, 9, 3u << 20);
    CHECK(pas_heap_get_statistics(heap, &stats) == PAS_OK);
    CHECK(stats.small.objects_in_use >= 500);
    CHECK(stats.large.object_count == 1);
    CHECK(stats.large.live_bytes == 3u << 20);
    CHECK(stats.live_bytes >= 500 * 200 + (3u << 20));
    for (int i = 0; i < 500; i++)
        CHECK(pas_heap_deallocate(heap, small[i]) == PAS_OK);
    CHECK(pas_heap_deallocate(heap, large) == PAS_OK);
    size_t decommitted = 0;
    CHECK(pas_heap_scavenge(heap, &decommitted) == PAS_OK);
    CHECK(decommitted <= cage_bytes);
    CHECK(pas_heap_get_statistics(heap, &stats) == PAS_OK);
    CHECK(stats.live_bytes == 0);
    CHECK(stats.large.decommitted_bytes >= 3u << 20);
    CHECK(pas_heap_scavenge(heap, NULL) == PAS_OK);
    CHECK(pas_heap_verify(heap) == PAS_OK);
}

static int contains_address(void* const* list, int count, const void* address)
{
    for (int i = 0; i < count; i++) {
        if (list[i] == address)
            return 1;
    }
    return 0;
}

enum { typed_objects = 600 };

static void test_typed_heaps(void)
{
    pas_typed_heap* nodes = pas_typed_heap_create(40, 0, "Node");
    pas_typed_heap* strings = pas_typed_heap_create(40, 0, "String");
    CHECK(nodes != NULL && strings != NULL);
    if (!nodes || !strings)
        return;
    pas_typed_heap_statistics stats;
    CHECK(pas_typed_heap_get_statistics(nodes, &stats) == PAS_OK);
    CHECK(stats.object_size == 48);
    CHECK(stats.alignment == 16);

    /* Every address either heap ever hands out, over rounds of allocating and freeing. */
    static void* seen_nodes[3 * typed_objects];
    static void* seen_strings[3 * typed_objects];
    int node_count = 0;
    int string_count = 0;
    for (int round = 0; round < 3; round++) {
        void* batch[typed_objects];
        for (int i = 0; i < typed_objects; i++) {
            batch[i] = pas_typed_heap_allocate(nodes);
            CHECK(batch[i] != NULL && ((uintptr_t)batch[i] & 15) == 0);
            seen_nodes[node_count++] = batch[i];
        }
        for (int i = 0; i < typed_objects; i++)
            CHECK(pas_typed_heap_deallocate(nodes, batch[i]) == PAS_OK);
        if (round == 1)
            CHECK(pas_typed_heap_scavenge(nodes, NULL) == PAS_OK);
        /* The strings heap now allocates while the nodes' memory is free. */
        for (int i = 0; i < typed_objects; i++) {
            batch[i] = pas_typed_heap_allocate(strings);
            CHECK(batch[i] != NULL);
            seen_strings[string_count++] = batch[i];
        }
        for (int i = 0; i < typed_objects; i++)
            CHECK(pas_typed_heap_deallocate(strings, batch[i]) == PAS_OK);
    }
    int shared = 0;
    for (int i = 0; i < string_count; i++)
        shared += contains_address(seen_nodes, node_count, seen_strings[i]);
    CHECK(shared == 0);

    void* node = pas_typed_heap_allocate(nodes);
    CHECK(pas_typed_heap_deallocate(strings, node) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK(strstr(pas_last_error_message(), "String") != NULL);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(pas_typed_heap_deallocate(nodes, NULL) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(pas_typed_heap_deallocate(nodes, (char*)node + 16) == PAS_ERROR_UNKNOWN_POINTER);
    CHECK_ERROR(PAS_ERROR_UNKNOWN_POINTER, EINVAL);
    CHECK(pas_typed_heap_deallocate(nodes, node) == PAS_OK);
    CHECK(pas_typed_heap_deallocate(nodes, node) == PAS_ERROR_DOUBLE_FREE);
    CHECK(strstr(pas_last_error_message(), "Node") != NULL);
    CHECK_ERROR(PAS_ERROR_DOUBLE_FREE, EINVAL);
    CHECK(pas_typed_heap_get_statistics(nodes, &stats) == PAS_OK);
    CHECK(stats.pages.objects_in_use == 0);

    CHECK(pas_typed_heap_create(0, 0, "Nothing") == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_SIZE, EINVAL);
    CHECK(pas_typed_heap_create(32, 3, NULL) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ALIGNMENT, EINVAL);
    CHECK(pas_typed_heap_allocate(NULL) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);

    pas_typed_heap* big = pas_typed_heap_create(5000, 256, "Big");
    CHECK(big != NULL);
    if (big) {
        void* object = pas_typed_heap_allocate(big);
        CHECK(object != NULL && ((uintptr_t)object & 255) == 0);
        memset(object, 1, 5000);
        CHECK(pas_typed_heap_get_statistics(big, &stats) == PAS_OK);
        CHECK(stats.object_size == 5120);
        CHECK(stats.pages.page_size == 131072);
        CHECK(pas_typed_heap_deallocate(big, object) == PAS_OK);
        CHECK(pas_typed_heap_verify(big) == PAS_OK);
        CHECK(pas_typed_heap_destroy(big) == PAS_OK);
    }
    CHECK(pas_typed_heap_verify(nodes) == PAS_OK);
    CHECK(pas_typed_heap_verify(strings) == PAS_OK);
    CHECK(pas_typed_heap_destroy(nodes) == PAS_OK);
    CHECK(pas_typed_heap_destroy(strings) == PAS_OK);
    CHECK(pas_typed_heap_destroy(NULL) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
}

#ifndef PAS_ERROR_INVALID_HANDLE
#define PAS_ERROR_INVALID_HANDLE 14
#endif

/* Destroyed handles (of every kind) are refused with PAS_ERROR_INVALID_HANDLE, even after a
   new heap was created in their place; a second destroy is refused the same way, and a
   handle of one kind is refused by the functions of another. */
static void test_stale_handles(void)
{
    pas_heap* old_heap = pas_heap_create((size_t)64 << 20);
    CHECK(old_heap != NULL);
    CHECK(pas_heap_destroy(old_heap) == PAS_OK);
    pas_heap* new_heap = pas_heap_create((size_t)64 << 20);
    CHECK(new_heap != NULL);
    pas_clear_last_error();
    CHECK(pas_heap_allocate(old_heap, 64, 0) == NULL);
    CHECK(pas_last_error() == PAS_ERROR_INVALID_HANDLE);
    CHECK(strstr(pas_last_error_message(), "destroyed") != NULL);
    CHECK(pas_heap_destroy(old_heap) == PAS_ERROR_INVALID_HANDLE);
    CHECK_ERROR(PAS_ERROR_INVALID_HANDLE, EINVAL);
    CHECK(!pas_heap_contains(old_heap, NULL));
    void* block = pas_heap_allocate(new_heap, 64, 0);
    CHECK(block != NULL && pas_heap_contains(new_heap, block));
    CHECK(pas_heap_deallocate(new_heap, block) == PAS_OK);
    /* A handle of another kind, and a value that was never a handle. */
    CHECK(pas_typed_heap_allocate((pas_typed_heap*)new_heap) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_HANDLE, EINVAL);
    int local = 0;
    CHECK(pas_heap_allocate((pas_heap*)&local, 16, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_HANDLE, EINVAL);
    CHECK(pas_heap_destroy(new_heap) == PAS_OK);

    pas_typed_heap* old_typed = pas_typed_heap_create(32, 0, "old");
    CHECK(old_typed != NULL);
    CHECK(pas_typed_heap_destroy(old_typed) == PAS_OK);
    pas_typed_heap* new_typed = pas_typed_heap_create(32, 0, "new");
    CHECK(new_typed != NULL);
    CHECK(pas_typed_heap_allocate(old_typed) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_HANDLE, EINVAL);
    CHECK(pas_typed_heap_destroy(old_typed) == PAS_ERROR_INVALID_HANDLE);
    CHECK_ERROR(PAS_ERROR_INVALID_HANDLE, EINVAL);
    CHECK(pas_typed_heap_destroy(new_typed) == PAS_OK);

    pas_jit_heap_options options;
    pas_jit_heap_options_init(&options);
    options.region_size = (size_t)4 << 20;
    pas_jit_heap* old_jit = pas_jit_heap_create(&options);
    CHECK(old_jit != NULL);
    CHECK(pas_jit_heap_destroy(old_jit) == PAS_OK);
    pas_jit_heap* new_jit = pas_jit_heap_create(&options);
    CHECK(new_jit != NULL);
    CHECK(pas_jit_heap_allocate(old_jit, 64, 0) == NULL);
    CHECK_ERROR(PAS_ERROR_INVALID_HANDLE, EINVAL);
    CHECK(pas_jit_heap_destroy(old_jit) == PAS_ERROR_INVALID_HANDLE);
    CHECK_ERROR(PAS_ERROR_INVALID_HANDLE, EINVAL);
    CHECK(pas_jit_heap_destroy(new_jit) == PAS_OK);
    CHECK(pas_jit_heap_destroy(pas_jit_heap_process_heap()) == PAS_ERROR_INVALID_ARGUMENT);
    CHECK_ERROR(PAS_ERROR_INVALID_ARGUMENT, EINVAL);
}

int main(void)
{
    const size_t cage_bytes = (size_t)1 << 30;
    pas_clear_last_error();
    errno = 0;
    pas_heap* heap = pas_heap_create(cage_bytes);
    CHECK(heap != NULL);
    if (heap) {
        test_sizes(heap);
        test_reallocate(heap);
        test_zeroed(heap);
        test_bad_calls(heap);
        test_cage(heap, cage_bytes);
        test_statistics(heap, cage_bytes);
        CHECK(pas_heap_destroy(heap) == PAS_OK);
    }
    test_typed_heaps();
    test_stale_handles();
    printf("pas_heap_test: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
