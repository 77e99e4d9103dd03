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
        // The head and the links are relaxed atomics: plain loads and stores on x86-64 and arm64
        // that the optimiser may not fold away (a pop followed by a push of the same block is
        // otherwise a no-op it deletes).
        final class List: @unchecked Sendable {
            let head = Atomic<Int>(0)
            let next = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 64)
            init() {
                for i in 0 ..< 64 { (next + i).initialize(to: Atomic(i == 63 ? -1 : i + 1)) }
            }
        }
        let list = List()
        let start = nowNanoseconds()
        for _ in 0 ..< pairs {
            let block = list.head.load(ordering: .relaxed) // pop
            list.head.store(list.next[block].load(ordering: .relaxed), ordering: .relaxed)
            list.next[block].store(list.head.load(ordering: .relaxed), ordering: .relaxed) // push back
            list.head.store(block, ordering: .relaxed)
        }
        let elapsed = nowNanoseconds() - start
        list.next.deallocate()
        return Double(elapsed) / Double(pairs)
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
                while line.word.load(ordering: .acquiring) != expected {}
                line.word.store(expected + 1, ordering: .releasing)
                expected += 2
            }
        }
        return Double(wall) / Double(rounds)
    }
}
