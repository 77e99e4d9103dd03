/*
 * Prints the layout of every struct in pas.h as the C compiler sees it, the values of its
 * enums, and the defaults pas_jit_heap_options_init() writes (so the program links against
 * libPasC.so and calls it). CProgramTests compares each line with what Swift reports for
 * the structs the library reads and writes (MemoryLayout of CJITHeapOptions, ...).
 *
 * Lines: "size <struct> <bytes>", "field <struct>.<field> <offset> <bytes>",
 *        "enum <NAME> <value>", "default <field> <value>".
 */
#include "pas.h"

#include <inttypes.h>
#include <stdio.h>

#define SIZE(type) printf("size %s %zu\n", #type, sizeof(type))
#define FIELD(type, field) \
    printf("field %s.%s %zu %zu\n", #type, #field, offsetof(type, field), sizeof(((type*)0)->field))
#define ENUM(name) printf("enum %s %d\n", #name, (int)(name))

int main(void)
{
    SIZE(pas_range);
    FIELD(pas_range, begin);
    FIELD(pas_range, end);

    SIZE(pas_jit_heap_options);
    FIELD(pas_jit_heap_options, region_size);
    FIELD(pas_jit_heap_options, protection_modes);
    FIELD(pas_jit_heap_options, fill);
    FIELD(pas_jit_heap_options, fill_byte);
    FIELD(pas_jit_heap_options, reserved);

    SIZE(pas_jit_heap_statistics);
    FIELD(pas_jit_heap_statistics, protection_mode);
    FIELD(pas_jit_heap_statistics, reserved0);
    FIELD(pas_jit_heap_statistics, reserved_bytes);
    FIELD(pas_jit_heap_statistics, used_address_space);
    FIELD(pas_jit_heap_statistics, live_bytes);
    FIELD(pas_jit_heap_statistics, block_count);
    FIELD(pas_jit_heap_statistics, decommitted_bytes);
    FIELD(pas_jit_heap_statistics, resident_code_bytes);

    SIZE(pas_segregated_heap_statistics);
    FIELD(pas_segregated_heap_statistics, page_size);
    FIELD(pas_segregated_heap_statistics, chunk_count);
    FIELD(pas_segregated_heap_statistics, owned_pages);
    FIELD(pas_segregated_heap_statistics, full_pages);
    FIELD(pas_segregated_heap_statistics, eligible_pages);
    FIELD(pas_segregated_heap_statistics, empty_pages);
    FIELD(pas_segregated_heap_statistics, shared_pages);
    FIELD(pas_segregated_heap_statistics, decommitted_pages);
    FIELD(pas_segregated_heap_statistics, fresh_pages);
    FIELD(pas_segregated_heap_statistics, objects_in_use);
    FIELD(pas_segregated_heap_statistics, bytes_in_use);
    FIELD(pas_segregated_heap_statistics, remote_frees);
    FIELD(pas_segregated_heap_statistics, late_double_frees);
    FIELD(pas_segregated_heap_statistics, committed_page_bytes);

    SIZE(pas_bitfit_heap_statistics);
    FIELD(pas_bitfit_heap_statistics, live_bytes);
    FIELD(pas_bitfit_heap_statistics, object_count);
    FIELD(pas_bitfit_heap_statistics, free_bytes);
    FIELD(pas_bitfit_heap_statistics, page_count);
    FIELD(pas_bitfit_heap_statistics, empty_page_count);
    FIELD(pas_bitfit_heap_statistics, committed_bytes);
    FIELD(pas_bitfit_heap_statistics, decommitted_bytes);
    FIELD(pas_bitfit_heap_statistics, chunk_count);
    FIELD(pas_bitfit_heap_statistics, metadata_bytes);
    FIELD(pas_bitfit_heap_statistics, reserved_table_bytes);
    FIELD(pas_bitfit_heap_statistics, failed_page_searches);

    SIZE(pas_large_heap_statistics);
    FIELD(pas_large_heap_statistics, live_bytes);
    FIELD(pas_large_heap_statistics, free_bytes);
    FIELD(pas_large_heap_statistics, object_count);
    FIELD(pas_large_heap_statistics, free_range_count);
    FIELD(pas_large_heap_statistics, committed_bytes);
    FIELD(pas_large_heap_statistics, decommitted_bytes);
    FIELD(pas_large_heap_statistics, chunk_bytes);
    FIELD(pas_large_heap_statistics, metadata_bytes);

    SIZE(pas_heap_statistics);
    FIELD(pas_heap_statistics, cage_bytes);
    FIELD(pas_heap_statistics, live_bytes);
    FIELD(pas_heap_statistics, small);
    FIELD(pas_heap_statistics, medium);
    FIELD(pas_heap_statistics, marge);
    FIELD(pas_heap_statistics, large);

    SIZE(pas_typed_heap_statistics);
    FIELD(pas_typed_heap_statistics, object_size);
    FIELD(pas_typed_heap_statistics, alignment);
    FIELD(pas_typed_heap_statistics, pages);

    ENUM(PAS_JIT_PROTECTION_NONE);
    ENUM(PAS_JIT_PROTECTION_DUAL_MAPPED);
    ENUM(PAS_JIT_PROTECTION_RWX);
    ENUM(PAS_JIT_PROTECTION_TOGGLED);
    ENUM(PAS_JIT_FILL_TRAP);
    ENUM(PAS_JIT_FILL_NONE);
    ENUM(PAS_JIT_FILL_BYTE);
    ENUM(PAS_HEAP_REGION_FOREIGN);
    ENUM(PAS_HEAP_REGION_SMALL);
    ENUM(PAS_HEAP_REGION_MEDIUM);
    ENUM(PAS_HEAP_REGION_MARGE);
    ENUM(PAS_HEAP_REGION_LARGE);

    pas_jit_heap_options options;
    pas_jit_heap_options_init(&options);
    printf("default region_size %" PRIu64 "\n", options.region_size);
    for (int i = 0; i < PAS_JIT_HEAP_MAX_PROTECTION_MODES; i++)
        printf("default protection_modes[%d] %" PRIu32 "\n", i, options.protection_modes[i]);
    printf("default fill %" PRIu32 "\n", options.fill);
    printf("default fill_byte %" PRIu32 "\n", options.fill_byte);
    printf("default reserved %" PRIu64 "\n", options.reserved);
    return 0;
}
