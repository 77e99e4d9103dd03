import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import CPasShim

/// Figures printed in the environment header so runs on different machines compare as
/// multiples of this machine's floor (see the benchmark plan).
enum Calibration {
    /// An intrusive free list popped and pushed through memory: the cost floor of an allocator
    /// fast path on this CPU, without any call. Ns per pop+push pair.
    static func freeListFloor(pairs: Int = 20_000_000) -> Double {
        let blocks = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 64)
        defer { blocks.deallocate() }
        // Thread the blocks into a list: block i points at block i + 1.
        for i in 0 ..< 63 { blocks[i] = UnsafeMutableRawPointer(blocks + i + 1) }
        blocks[63] = nil
        let head = escapeSink
        head.pointee = UnsafeMutableRawPointer(blocks)
        let start = nowNanoseconds()
        for _ in 0 ..< pairs {
            let block = head.pointee.unsafelyUnwrapped                 // pop
            head.pointee = block.load(as: UnsafeMutableRawPointer?.self)
            block.storeBytes(of: head.pointee, as: UnsafeMutableRawPointer?.self) // push back
            head.pointee = block
        }
        return Double(nowNanoseconds() - start) / Double(pairs)
    }

    /// Round trip of a cache line between CPU 0 and CPU 1 (two pinned threads bouncing a
    /// counter), in ns. On shared VMs this moves between "near" and "far" over minutes, which
    /// changes every cross-thread figure; the header prints it before and after the run.
    static func pingPong(rounds: Int = 200_000) -> Double {
        final class Line: @unchecked Sendable { let word = Atomic<Int>(0) }
        let line = Line()
        let wall = onThreads(2) { t in
            var expected = t
            for _ in 0 ..< rounds {
                while line.word.load(ordering: .acquiring) != expected { }
                line.word.store(expected + 1, ordering: .releasing)
                expected += 2
            }
        }
        return Double(wall) / Double(rounds)
    }
}
