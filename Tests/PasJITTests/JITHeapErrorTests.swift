import Testing
import Foundation
import PasJIT
import PasSystem
import PasTestSupport

/// Errors name the operation the caller called, and reservations that cannot be made are
/// reported as such.
@Suite struct JITHeapErrorTests {
    @Test func largeBlockErrorsNameTheCallersOperation() throws {
        let heap = try JITHeap(options: .mode(.rwx, regionSize: 16 << 20))
        let block = try heap.allocate(size: 1 << 20)
        let interior = CodeBlock(address: block.address + 4096)
        #expect(throws: PasError.unknownPointer(.deallocate, address: interior.address)) { try heap.deallocate(interior) }
        #expect(throws: PasError.unknownPointer(.write, address: interior.address)) { try heap.copy([0xC3], into: interior) }
        #expect(throws: PasError.unknownPointer(.shrink, address: interior.address)) { try heap.shrink(interior, to: 4096) }
        try heap.deallocate(block)
        let small = try heap.allocate(size: 64)
        let inside = CodeBlock(address: small.address + 16)
        #expect(throws: PasError.unknownPointer(.write, address: inside.address)) { try heap.copy([0xC3], into: inside) }
        try heap.deallocate(small)
    }

    /// A region that cannot be reserved is out of memory, in every mode, not a refused mode.
    @Test(arguments: [ProtectionMode.dualMapped, .rwx, .toggled])
    func unreservableRegionIsOutOfMemory(mode: ProtectionMode) {
        #expect(throws: PasError.outOfMemory(.reserve, requested: 1 << 60)) {
            try JITHeap(options: .mode(mode, regionSize: 1 << 60))
        }
    }
}

/// `JITHeap` under an address-space limit, in a child process (see `CageLimitTests`).
@Suite struct RegionLimitTests {
    @Test func jitHeapsUnderAnAddressSpaceLimit() throws {
        let child = try LimitedChild.run(suite: "RegionLimitChild", environmentKey: "PAS_REGION_LIMIT_CHILD")
        #expect(child.passed, "child under ulimit -v failed (status \(child.status)):\n\(child.output)")
    }
}

/// Runs only inside the child started by `RegionLimitTests` (under `ulimit -v 4000000`).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["PAS_REGION_LIMIT_CHILD"] == "1", "runs in RegionLimitTests' child"))
struct RegionLimitChild {
    /// A 64 GiB region does not fit: out of memory (not a refused mode), unless the caller
    /// accepts a smaller region, which is then reserved and used.
    @Test(arguments: [ProtectionMode.dualMapped, .rwx])
    func regionIsRefusedOrShrunkAsAsked(mode: ProtectionMode) throws {
        #expect(throws: PasError.outOfMemory(.reserve, requested: 64 << 30)) {
            try JITHeap(options: .mode(mode, regionSize: 64 << 30))
        }
        var options = JITHeap.Options.mode(mode, regionSize: 64 << 30)
        options.minimumRegionSize = 16 << 20
        let heap = try JITHeap(options: options)
        let reserved = heap.statistics.reservedBytes
        #expect(reserved >= 16 << 20 && reserved < 4 << 30, "\(reserved)")
        let block = try heap.allocate(size: 1 << 20)
        try heap.copy([0xC3], into: block)
        try heap.deallocate(block)
    }
}
