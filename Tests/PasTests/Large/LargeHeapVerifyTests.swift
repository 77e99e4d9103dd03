import Testing
@testable import Pas
import PasSystem

/// `verify()` finds each kind of broken invariant, planted directly in a heap core.
@Suite struct LargeHeapVerifyTests {
    /// A core with a few objects, free ranges of two types and a decommitted span.
    func makeCore(_ chunks: NoAccessChunkSource) throws -> (LargeHeapCore, [UInt]) {
        var core = try LargeHeapCore(granule: 16, chunkSize: 64 * chunks.pageSize, pageSize: chunks.pageSize)
        var objects: [UInt] = []
        for i in 0 ..< 12 {
            objects.append(
                try core.allocate(size: 4096 * (i % 3 + 1), alignment: 16, type: UInt32(i % 2), chunks: chunks, now: 1))
        }
        for i in stride(from: 0, to: 12, by: 3) { try core.deallocate(objects[i], now: 2) }
        // A decommit pass as the heap runs it: choose, decommit, record.
        var plan = try DecommitPlan.allocate(capacity: 64)
        defer { plan.release() }
        let (_, error) = core.planDecommit(emptySinceAtMost: .max, into: &plan)
        #expect(error == nil)
        for i in 0 ..< plan.count { try chunks.decommit(plan.runs[i].range) }
        _ = core.finishDecommit(plan, failedFrom: plan.count)
        try core.verify()
        return (core, objects)
    }

    func expectBroken(_ core: LargeHeapCore, _ what: String, _ reason: String) {
        do {
            try core.verify()
            Issue.record("verify missed: \(what)")
        } catch {
            #expect("\(error)".contains(reason), "\(what): \(error)")
        }
    }

    @Test func verifyFindsPlantedCorruption() throws {
        let chunks = NoAccessChunkSource()
        do {
            var (core, _) = try makeCore(chunks)
            defer { core.releaseMetadata() }
            core.freeBytes += 16
            expectBroken(core, "free byte counter", "free bytes")
        }
        do {
            let (core, _) = try makeCore(chunks)
            defer { core.releaseMetadata() }
            core.pool.treap[core.freeRoot].maxSize += 16
            expectBroken(core, "subtree size", "maxSize")
        }
        do {
            let (core, _) = try makeCore(chunks)
            defer { core.releaseMetadata() }
            let r = core.freeRoot
            let child = core.pool.treap[r].left != 0 ? core.pool.treap[r].left : core.pool.treap[r].right
            try #require(child != 0)
            core.pool.treap[child].priority = core.pool.treap[r].priority &+ 1
            core.pool.treap[r].priority = core.pool.treap[child].priority &- 1
            expectBroken(core, "heap order", "heap order")
        }
        do {
            var (core, objects) = try makeCore(chunks)
            defer { core.releaseMetadata() }
            // An object that overlaps its neighbour.
            let slot = try #require(core.map.find(objects[1]))
            core.map[slot: slot].size += 16
            core.liveBytes += 16
            expectBroken(core, "overlap", "gap or overlap")
        }
        do {
            var (core, objects) = try makeCore(chunks)
            defer { core.releaseMetadata() }
            // A live object forgotten by the map leaves a hole in its chunk.
            let slot = try #require(core.map.find(objects[2]))
            core.liveBytes -= Int(core.map[slot: slot].size)
            core.map.remove(slot: slot)
            expectBroken(core, "hole", "gap or overlap")
        }
        do {
            var (core, objects) = try makeCore(chunks)
            defer { core.releaseMetadata() }
            // A decommitted page under a live object.
            let page = UInt(chunks.pageSize)
            let start = (objects[1] + page - 1) & ~(page - 1)
            try core.pool.reserve(1)
            core.pool.insertSpan(&core.decommitRoot, start: start, end: start + page)
            core.decommittedBytes += Int(page)
            expectBroken(core, "decommitted live page", "not free")
        }
    }
}
