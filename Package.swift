// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Pas",
    products: [
        .library(name: "Pas", targets: ["Pas"]),
        .library(name: "PasSystem", targets: ["PasSystem"]),
    ],
    targets: [
        // The few lines of C that Swift cannot reach.
        .target(name: "CPasShim"),
        // Pages, mappings, memory files, protection, clock, errors.
        .target(name: "PasSystem", dependencies: ["CPasShim"]),
        // The allocator toolkit: locks, bitfit, large and segregated heaps, page sharing.
        .target(name: "Pas", dependencies: ["PasSystem", "CPasShim"]),

        // Mocks shared by the tests: recording page source, manual clock.
        .target(name: "PasTestSupport", dependencies: ["PasSystem"], path: "Tests/PasTestSupport"),
        .testTarget(name: "PasSystemTests", dependencies: ["PasSystem", "PasTestSupport", "CPasShim"]),
        .testTarget(name: "PasTests", dependencies: ["Pas", "PasSystem", "PasTestSupport"]),

        // Toy JIT example: compiler core (x86-64 and arm64) and its tests.
        .target(name: "ToyJITCore", dependencies: ["PasSystem", "CPasShim"], path: "Examples/ToyJIT/ToyJITCore"),
        .testTarget(name: "ToyJITTests", dependencies: ["ToyJITCore", "PasSystem", "CPasShim"]),
    ]
)
