import Testing
import Foundation
import Pas
import PasSystem
import PasTestSupport

/// `PasHeap` under an address-space limit, run in a child process: the test executable runs
/// itself under `ulimit -v` with only `CageLimitChild` selected (the environment variable
/// turns that suite on), so the limit never touches the other tests.
@Suite struct CageLimitTests {
    @Test func heapsUnderAnAddressSpaceLimit() throws {
        let child = try LimitedChild.run(suite: "CageLimitChild", environmentKey: "PAS_CAGE_LIMIT_CHILD")
        #expect(child.passed, "child under ulimit -v failed (status \(child.status)):\n\(child.output)")
    }
}

/// Runs only inside the child started by `CageLimitTests` (under `ulimit -v 4000000`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["PAS_CAGE_LIMIT_CHILD"] == "1", "runs in CageLimitTests' child"))
struct CageLimitChild {
    /// The default cage does not fit: a typed error unless the caller accepts a smaller one,
    /// which then holds more small objects than its small region (they spill into medium).
    @Test func defaultCageIsRefusedOrShrunkAsAsked() throws {
        #expect(throws: PasError.outOfMemory(.reserve, requested: PasHeap.defaultCageBytes)) {
            try PasHeap(pageSharing: nil)
        }
        let heap = try PasHeap(minimumCageBytes: 256 << 20, pageSharing: nil)
        let bytes = heap.cage.byteCount
        #expect(bytes >= 256 << 20 && bytes < 4_000_000 << 10 && bytes % PasHeap.cageGranule == 0, "\(bytes)")
        // More 2 KiB objects than the small region (1/16 of the cage) holds.
        var objects: [UnsafeMutableRawPointer] = []
        let count = bytes / 16 / 2048 + 4096
        objects.reserveCapacity(count)
        for i in 0 ..< count {
            let p = try #require(heap.allocateUnchecked(size: 2048), "object \(i) of \(count)")
            p.storeBytes(of: i, as: Int.self)
            objects.append(p)
        }
        #expect(objects.contains { heap.region(of: $0) == .medium })
        for (i, p) in objects.enumerated() {
            #expect(p.load(as: Int.self) == i)
            #expect(heap.deallocateUnchecked(p))
        }
        try heap.verify()
        #expect(throws: PasError.outOfMemory(.reserve, requested: 1 << 39)) {
            try PasHeap(cageBytes: 1 << 40, minimumCageBytes: 1 << 39, pageSharing: nil)
        }
    }
}
