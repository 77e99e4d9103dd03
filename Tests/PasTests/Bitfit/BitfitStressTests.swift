import Testing
import PasTestSupport
import Pas
import PasSystem
import Synchronization

/// Several threads allocate, write, shrink, grow and free in one heap, and hand objects to
/// each other to free. Each object carries a stamp at both ends; an overlap between two
/// live objects would overwrite a stamp.
@Suite struct BitfitStressTests {
    struct Stamped: @unchecked Sendable {
        var pointer: UnsafeMutableRawPointer
        var stamp: UInt64
    }

    @Test func jitSmallUnderFourThreads() { stress(JITSmallBitfitConfig.self, threads: 4, steps: 3000) }
    @Test func smallInlineUnderFourThreads() { stress(SmallBitfitConfig.self, threads: 4, steps: 3000) }
    @Test func mediumUnderThreeThreads() { stress(MediumBitfitConfig.self, threads: 3, steps: 1500) }

    func stress<C: BitfitConfig & SendableMetatype>(_: C.Type, threads: Int, steps: Int) {
        let seed = BitfitModelTests.seed()
        let heap = makeHeap(C.self)
        let mailbox = HandoffLock<[Stamped]>([])
        let failures = Mutex<[String]>([])

        let maxSize = C.maxObjectSize
        let stampObject: @Sendable (Stamped) throws(PasError) -> Void = { s throws(PasError) in
            let size = try heap.size(of: s.pointer)
            s.pointer.storeBytes(of: s.stamp, as: UInt64.self)
            (s.pointer + size - 8).storeBytes(of: ~s.stamp, as: UInt64.self)
        }
        let check: @Sendable (Stamped, String) throws(PasError) -> Void = { s, what throws(PasError) in
            let size = try heap.size(of: s.pointer)
            let head = s.pointer.load(as: UInt64.self)
            let tail = (s.pointer + size - 8).load(as: UInt64.self)
            if head != s.stamp || tail != ~s.stamp {
                failures.withLock { $0.append("\(what): stamp of 0x\(String(s.pointer.address, radix: 16)) overwritten") }
            }
        }

        onThreads(threads) { thread in
            var rng = SplitMix64(seed: seed &+ UInt64(thread))
            var mine: [Stamped] = []
            var serial: UInt64 = UInt64(thread) << 48
            do {
                for _ in 0 ..< steps {
                    switch Int.random(in: 0 ..< 100, using: &rng) {
                    case 0 ..< 45 where mine.count < 200:
                        let size = Int.random(in: 8 ... maxSize / (Bool.random(using: &rng) ? 16 : 1), using: &rng)
                        serial += 1
                        let s = Stamped(pointer: try heap.allocate(size: size), stamp: serial)
                        try stampObject(s)
                        mine.append(s)
                    case 0 ..< 70:
                        guard !mine.isEmpty else { break }
                        let s = mine.remove(at: Int.random(in: 0 ..< mine.count, using: &rng))
                        try check(s, "free")
                        try heap.deallocate(s.pointer)
                    case 70 ..< 80:
                        guard let s = mine.randomElement(using: &rng) else { break }
                        try check(s, "shrink")
                        try heap.shrink(s.pointer, to: Int.random(in: 8 ... (try heap.size(of: s.pointer)), using: &rng))
                        try stampObject(s)
                    case 80 ..< 88:
                        guard let s = mine.randomElement(using: &rng) else { break }
                        try check(s, "grow")
                        if try heap.tryReallocateInPlace(s.pointer, to: Int.random(in: 8 ... maxSize, using: &rng)) {
                            try stampObject(s)
                        }
                    case 88 ..< 94:
                        // Hand an object to another thread.
                        guard !mine.isEmpty else { break }
                        let s = mine.remove(at: Int.random(in: 0 ..< mine.count, using: &rng))
                        mailbox.withLock { $0.append(s) }
                    default:
                        // Free an object some other thread handed over.
                        if let s = mailbox.withLock({ $0.popLast() }) {
                            try check(s, "remote free")
                            try heap.deallocate(s.pointer)
                        }
                    }
                }
                for s in mine { try check(s, "final"); try heap.deallocate(s.pointer) }
            } catch {
                failures.withLock { $0.append("thread \(thread) threw \(error)") }
            }
        }
        for s in mailbox.withLock({ $0 }) {
            do { try check(s, "mailbox"); try heap.deallocate(s.pointer) } catch { failures.withLock { $0.append("\(error)") } }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) }) (BITFIT_SEED=\(seed))")
        #expect(heap.verify().isEmpty, "BITFIT_SEED=\(seed)")
        let stats = heap.statistics
        #expect(stats.liveBytes == 0 && stats.objectCount == 0, "BITFIT_SEED=\(seed)")
        #expect(stats.emptyPageCount == stats.pageCount)
    }
}
