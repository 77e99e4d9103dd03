// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Pas",
    products: [
        .library(name: "Pas", targets: ["Pas"]),
        .library(name: "PasSystem", targets: ["PasSystem"]),
        .library(name: "PasJIT", targets: ["PasJIT"]),
        // The C API (header in Sources/PasC/include) as a shared library: libPasC.so.
        .library(name: "PasC", type: .dynamic, targets: ["PasC"]),
        .executable(name: "toyjit", targets: ["toyjit"]),
        .executable(name: "pas-bench", targets: ["pas-bench"]),
        .executable(name: "object-heaps", targets: ["object-heaps"]),
        // The malloc-compatible library (LD_PRELOAD or link it first).
        .library(name: "pasmalloc", type: .dynamic, targets: ["PasMalloc"]),
    ],
    targets: [
        // The few lines of C that Swift cannot reach.
        .target(name: "CPasShim"),
        // Pages, mappings, memory files, protection, clock, errors; the platform seam: the only
        // target (with CPasShim) that calls the operating system (Sources/PasSystem/Platform).
        .target(name: "PasSystem", dependencies: ["CPasShim"]),
        // The allocator toolkit: bitfit, large and segregated heaps, page sharing.
        // PAS_TEST_HOOKS: the page-lock protocol's hook points for race tests (debug only).
        .target(
            name: "Pas", dependencies: ["PasSystem"],
            swiftSettings: [.define("PAS_TEST_HOOKS", .when(configuration: .debug))]),
        // JITHeap: code regions, protection modes, write scopes, over bitfit and large heaps.
        .target(name: "PasJIT", dependencies: ["Pas", "PasSystem"]),
        // The C API: `pas_jit_heap_*`, libpas's `jit_heap_*` names, the thread's last error.
        // The header directory is not Swift source; C programs find it with -I.
        .target(name: "PasC", dependencies: ["PasJIT", "Pas", "PasSystem"], exclude: ["include"]),
        // malloc, free, calloc, realloc, posix_memalign, ... over a PasHeap (@_cdecl entry points).
        .target(name: "PasMalloc", dependencies: ["Pas", "PasSystem", "CPasMalloc"]),
        // The malloc library's C: the start gate and its load-time constructor, the bootstrap
        // arena, the entry depth, the foreign-free count, and the names `malloc` and `free`
        // (which Swift reserves) forwarding to PasMalloc.
        .target(name: "CPasMalloc"),
        // The side-by-side benchmark (release builds). The asmjit peer is C++ compiled at run time.
        .executableTarget(
            name: "pas-bench", dependencies: ["Pas", "PasJIT", "PasSystem", "CPasShim"],
            exclude: ["Peers"]),

        // Example: a runtime-like object graph in isoheaps and a general heap.
        .executableTarget(name: "object-heaps", dependencies: ["Pas", "PasSystem"], path: "Examples/ObjectHeaps"),

        // Shared by the tests: recording page source, manual clock, SplitMix64, test threads,
        // forked and resource-limited children.
        .target(name: "PasTestSupport", dependencies: ["PasSystem"], path: "Tests/PasTestSupport"),
        .testTarget(name: "PasSystemTests", dependencies: ["PasSystem", "PasTestSupport", "CPasShim"]),
        .testTarget(name: "PasTests", dependencies: ["Pas", "PasSystem", "PasTestSupport"]),
        // Runs pas-bench with tiny sizes; it depends on no module, only on the built executable.
        .testTarget(name: "PasBenchTests", dependencies: ["pas-bench", "object-heaps"]),
        // Links libpasmalloc.so from the test build's objects and runs programs with it preloaded.
        // No dependency on PasMalloc: linking it into the test executable would replace malloc for
        // every test in the process.
        .testTarget(name: "PasMallocTests", exclude: ["Programs"]),
        // The fuzz sequence interpreter (JITHeap, PasHeap, the malloc paths, against a shadow
        // model); run from fixed seeds by PasFuzzTests and under libFuzzer by scripts/fuzz.sh.
        .target(name: "PasFuzz", dependencies: ["Pas", "PasJIT", "PasSystem"], path: "Tests/PasFuzz"),
        .testTarget(name: "PasFuzzTests", dependencies: ["PasFuzz", "PasTestSupport"]),
        .testTarget(name: "PasJITTests", dependencies: ["PasJIT", "PasSystem", "PasTestSupport"]),
        // Calls the C API from Swift, and compiles and runs a C program against the header and libPasC.so.
        .testTarget(
            name: "PasCTests", dependencies: ["PasC", "PasJIT", "PasSystem", "PasTestSupport"],
            exclude: ["CProgram"]),

        // Toy JIT example: compiler core (x86-64 and arm64) and its tests.
        .target(name: "ToyJITCore", dependencies: ["PasJIT", "PasSystem", "CPasShim"], path: "Examples/ToyJIT/ToyJITCore"),
        .executableTarget(name: "toyjit", dependencies: ["ToyJITCore", "PasJIT", "PasSystem"], path: "Examples/ToyJIT/toyjit"),
        .testTarget(name: "ToyJITTests", dependencies: ["ToyJITCore", "PasJIT", "PasSystem", "CPasShim", "PasTestSupport"]),
    ]
)
