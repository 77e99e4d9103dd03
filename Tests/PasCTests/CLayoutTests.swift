import Testing
import Foundation
@testable import PasC

/// The header's structs and enums as the C compiler lays them out, against the Swift types
/// the library reads and writes them through. `pas_layout.c` is compiled against pas.h,
/// linked against libPasC.so and run; every line it prints must be a line Swift produces
/// from `MemoryLayout` and the Swift enums, and the other way round.
@Suite struct CLayoutTests {
    /// "field <struct>.<field> <offset> <bytes>" for a Swift stored property.
    static func field<T, F>(_ name: String, _ path: KeyPath<T, F>) -> String {
        "field \(name) \(MemoryLayout<T>.offset(of: path).map(String.init) ?? "not-stored") \(MemoryLayout<F>.size)"
    }

    static func size<T>(_ name: String, _: T.Type) -> String { "size \(name) \(MemoryLayout<T>.size)" }

    /// The lines pas_layout.c must print, from the Swift side.
    static var swiftLines: [String] {
        typealias Seg = CSegregatedHeapStatistics
        typealias Bit = CBitfitHeapStatistics
        typealias Large = CLargeHeapStatistics
        let word = MemoryLayout<UInt>.size
        var lines = [
            // pas_range is passed to jit_heap_add_fresh_memory as its two words (begin, end).
            "size pas_range \(2 * word)", "field pas_range.begin 0 \(word)", "field pas_range.end \(word) \(word)",

            size("pas_jit_heap_options", CJITHeapOptions.self),
            field("pas_jit_heap_options.region_size", \CJITHeapOptions.regionSize),
            field("pas_jit_heap_options.protection_modes", \CJITHeapOptions.protectionModes),
            field("pas_jit_heap_options.fill", \CJITHeapOptions.fill),
            field("pas_jit_heap_options.fill_byte", \CJITHeapOptions.fillByte),
            field("pas_jit_heap_options.reserved", \CJITHeapOptions.reserved),

            size("pas_jit_heap_statistics", CJITHeapStatistics.self),
            field("pas_jit_heap_statistics.protection_mode", \CJITHeapStatistics.protectionMode),
            field("pas_jit_heap_statistics.reserved0", \CJITHeapStatistics.reserved0),
            field("pas_jit_heap_statistics.reserved_bytes", \CJITHeapStatistics.reservedBytes),
            field("pas_jit_heap_statistics.used_address_space", \CJITHeapStatistics.usedAddressSpace),
            field("pas_jit_heap_statistics.live_bytes", \CJITHeapStatistics.liveBytes),
            field("pas_jit_heap_statistics.block_count", \CJITHeapStatistics.blockCount),
            field("pas_jit_heap_statistics.decommitted_bytes", \CJITHeapStatistics.decommittedBytes),
            field("pas_jit_heap_statistics.resident_code_bytes", \CJITHeapStatistics.residentCodeBytes),

            size("pas_segregated_heap_statistics", Seg.self),
            field("pas_segregated_heap_statistics.page_size", \Seg.pageSize),
            field("pas_segregated_heap_statistics.chunk_count", \Seg.chunkCount),
            field("pas_segregated_heap_statistics.owned_pages", \Seg.ownedPages),
            field("pas_segregated_heap_statistics.full_pages", \Seg.fullPages),
            field("pas_segregated_heap_statistics.eligible_pages", \Seg.eligiblePages),
            field("pas_segregated_heap_statistics.empty_pages", \Seg.emptyPages),
            field("pas_segregated_heap_statistics.shared_pages", \Seg.sharedPages),
            field("pas_segregated_heap_statistics.decommitted_pages", \Seg.decommittedPages),
            field("pas_segregated_heap_statistics.fresh_pages", \Seg.freshPages),
            field("pas_segregated_heap_statistics.objects_in_use", \Seg.objectsInUse),
            field("pas_segregated_heap_statistics.bytes_in_use", \Seg.bytesInUse),
            field("pas_segregated_heap_statistics.remote_frees", \Seg.remoteFrees),
            field("pas_segregated_heap_statistics.late_double_frees", \Seg.lateDoubleFrees),
            field("pas_segregated_heap_statistics.committed_page_bytes", \Seg.committedPageBytes),

            size("pas_bitfit_heap_statistics", Bit.self),
            field("pas_bitfit_heap_statistics.live_bytes", \Bit.liveBytes),
            field("pas_bitfit_heap_statistics.object_count", \Bit.objectCount),
            field("pas_bitfit_heap_statistics.free_bytes", \Bit.freeBytes),
            field("pas_bitfit_heap_statistics.page_count", \Bit.pageCount),
            field("pas_bitfit_heap_statistics.empty_page_count", \Bit.emptyPageCount),
            field("pas_bitfit_heap_statistics.committed_bytes", \Bit.committedBytes),
            field("pas_bitfit_heap_statistics.decommitted_bytes", \Bit.decommittedBytes),
            field("pas_bitfit_heap_statistics.chunk_count", \Bit.chunkCount),
            field("pas_bitfit_heap_statistics.metadata_bytes", \Bit.metadataBytes),
            field("pas_bitfit_heap_statistics.reserved_table_bytes", \Bit.reservedTableBytes),
            field("pas_bitfit_heap_statistics.failed_page_searches", \Bit.failedPageSearches),

            size("pas_large_heap_statistics", Large.self),
            field("pas_large_heap_statistics.live_bytes", \Large.liveBytes),
            field("pas_large_heap_statistics.free_bytes", \Large.freeBytes),
            field("pas_large_heap_statistics.object_count", \Large.objectCount),
            field("pas_large_heap_statistics.free_range_count", \Large.freeRangeCount),
            field("pas_large_heap_statistics.committed_bytes", \Large.committedBytes),
            field("pas_large_heap_statistics.decommitted_bytes", \Large.decommittedBytes),
            field("pas_large_heap_statistics.chunk_bytes", \Large.chunkBytes),
            field("pas_large_heap_statistics.metadata_bytes", \Large.metadataBytes),

            size("pas_heap_statistics", CHeapStatistics.self),
            field("pas_heap_statistics.cage_bytes", \CHeapStatistics.cageBytes),
            field("pas_heap_statistics.live_bytes", \CHeapStatistics.liveBytes),
            field("pas_heap_statistics.small", \CHeapStatistics.small),
            field("pas_heap_statistics.medium", \CHeapStatistics.medium),
            field("pas_heap_statistics.marge", \CHeapStatistics.marge),
            field("pas_heap_statistics.large", \CHeapStatistics.large),

            size("pas_typed_heap_statistics", CTypedHeapStatistics.self),
            field("pas_typed_heap_statistics.object_size", \CTypedHeapStatistics.objectSize),
            field("pas_typed_heap_statistics.alignment", \CTypedHeapStatistics.alignment),
            field("pas_typed_heap_statistics.pages", \CTypedHeapStatistics.pages),
        ]
        let modes: [(String, CProtectionMode)] = [
            ("NONE", .none), ("DUAL_MAPPED", .dualMapped), ("RWX", .rwx), ("TOGGLED", .toggled),
        ]
        lines += modes.map { "enum PAS_JIT_PROTECTION_\($0.0) \($0.1.rawValue)" }
        let fills: [(String, CFill)] = [("TRAP", .trap), ("NONE", .leave), ("BYTE", .byte)]
        lines += fills.map { "enum PAS_JIT_FILL_\($0.0) \($0.1.rawValue)" }
        let regions: [(String, CHeapRegion)] = [
            ("FOREIGN", .foreign), ("SMALL", .small), ("MEDIUM", .medium), ("MARGE", .marge), ("LARGE", .large),
        ]
        lines += regions.map { "enum PAS_HEAP_REGION_\($0.0) \($0.1.rawValue)" }

        let defaults = CJITHeapOptions()
        let listed = [
            defaults.protectionModes.0, defaults.protectionModes.1, defaults.protectionModes.2, defaults.protectionModes.3,
        ]
        lines.append("default region_size \(defaults.regionSize)")
        lines += listed.enumerated().map { "default protection_modes[\($0.offset)] \($0.element)" }
        lines += [
            "default fill \(defaults.fill)", "default fill_byte \(defaults.fillByte)", "default reserved \(defaults.reserved)",
        ]
        return lines
    }

    @Test(.enabled(if: CToolchain.compiler != nil, "no C compiler (cc, gcc, clang) on PATH"))
    func headerLayoutMatchesSwift() throws {
        let compiler = try #require(CToolchain.compiler)
        let buildDir = CToolchain.buildDirectory
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("pasc-layout-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let program = work.appendingPathComponent("pas_layout").path
        let (compileStatus, compileOutput) = try CToolchain.run(
            compiler,
            [
                "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                "-I", CToolchain.includeDirectory, CToolchain.programSource("pas_layout.c"), "-o", program,
                "-L", buildDir.path, "-lPasC", "-Wl,-rpath,\(buildDir.path)",
            ])
        try #require(compileStatus == 0, "compiling pas_layout.c failed:\n\(compileOutput)")
        let (status, output) = try CToolchain.run(program, [])
        try #require(status == 0, "pas_layout failed (status \(status)):\n\(output)")
        let cLines = output.split(separator: "\n").map(String.init)
        let swift = Self.swiftLines
        try #require(cLines.count > 60, "pas_layout printed too little:\n\(output)")
        let onlyC = cLines.filter { !swift.contains($0) }
        let onlySwift = swift.filter { !cLines.contains($0) }
        #expect(
            onlyC.isEmpty && onlySwift.isEmpty,
            "C and Swift disagree.\nC says:\n\(onlyC.joined(separator: "\n"))\nSwift says:\n\(onlySwift.joined(separator: "\n"))")
    }
}
