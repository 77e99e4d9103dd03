import Testing
import PasTestSupport
import Pas
import PasSystem

/// Out-of-line configs are for code memory: the heap must never read or write a byte of its
/// chunks. Checked two ways: chunk bytes stay exactly as the test left them, and the heap
/// works on chunks nobody may access at all.
@Suite struct BitfitCodeMemoryTests {
    @Test func jitSmallNeverWritesChunkMemory() { checkUntouched(JITSmallBitfitConfig.self, steps: 3000) }
    @Test func jitMediumNeverWritesChunkMemory() { checkUntouched(JITMediumBitfitConfig.self, steps: 1500) }

    func checkUntouched<C: BitfitConfig>(_: C.Type, steps: Int) {
        let seed = BitfitModelTests.seed()
        var rng = SplitMix64(seed: seed)
        let source = PatternChunkSource()
        let heap = BitfitHeap<C, PatternChunkSource>(chunks: source, pageSharing: nil)
        /// What every chunk byte must hold: the pattern, what the test wrote, or zero after a decommit.
        var shadow: [UInt: [UInt8]] = [:]
        var live: [UnsafeMutableRawPointer] = []
        var decommitsSeen = 0
        var stamp: UInt8 = 0

        func write(_ p: UnsafeMutableRawPointer, _ count: Int) {
            stamp = stamp == 0xA4 ? 1 : stamp + 1
            p.initializeMemory(as: UInt8.self, repeating: stamp, count: count)
            let chunk = p.address & ~UInt(C.chunkSize - 1)
            let offset = Int(p.address - chunk)
            if shadow[chunk] == nil { shadow[chunk] = Array(repeating: PatternChunkSource.pattern, count: C.chunkSize) }
            for i in offset ..< offset + count { shadow[chunk]![i] = stamp }
        }
        func compare(_ step: Int) -> Bool {
            for chunk in source.chunks {
                let expected = shadow[chunk.start] ?? Array(repeating: PatternChunkSource.pattern, count: C.chunkSize)
                let actual = UnsafeRawBufferPointer(start: chunk.pointer, count: chunk.byteCount)
                if !actual.elementsEqual(expected) {
                    let first = (0 ..< expected.count).first { actual[$0] != expected[$0] }!
                    Issue.record(
                        "\(C.self): chunk byte \(first) changed behind the test's back at step \(step) (BITFIT_SEED=\(seed))")
                    return false
                }
            }
            return true
        }

        for step in 0 ..< steps {
            do {
                switch Int.random(in: 0 ..< 100, using: &rng) {
                case 0 ..< 45 where live.count < 120:
                    let size = Int.random(in: 1 ... C.maxObjectSize / (Bool.random(using: &rng) ? 8 : 1), using: &rng)
                    let p = try heap.allocate(size: size)
                    write(p, size)
                    live.append(p)
                case 0 ..< 75:
                    guard !live.isEmpty else { break }
                    try heap.deallocate(live.remove(at: Int.random(in: 0 ..< live.count, using: &rng)))
                case 75 ..< 85:
                    guard let p = live.randomElement(using: &rng) else { break }
                    try heap.shrink(p, to: Int.random(in: 1 ... (try heap.size(of: p)), using: &rng))
                case 85 ..< 93:
                    guard let p = live.randomElement(using: &rng) else { break }
                    let newSize = Int.random(in: 1 ... C.maxObjectSize, using: &rng)
                    if try heap.tryReallocateInPlace(p, to: newSize) { write(p, newSize) }
                case 93 ..< 97:
                    // Bad input must be refused without touching memory either.
                    if let p = live.randomElement(using: &rng) {
                        #expect(throws: PasError.unknownPointer(.deallocate, address: p.address + 8)) {
                            try heap.deallocate(p + 8)
                        }
                    }
                default:
                    _ = try heap.decommitEmptyPages()
                    let decommits = source.decommits
                    for range in decommits[decommitsSeen...] {
                        let chunk = range.start & ~UInt(C.chunkSize - 1)
                        if shadow[chunk] == nil {
                            shadow[chunk] = Array(repeating: PatternChunkSource.pattern, count: C.chunkSize)
                        }
                        let offset = Int(range.start - chunk)
                        for i in offset ..< offset + range.byteCount { shadow[chunk]![i] = 0 }
                        for p in live where range.contains(p.address) {
                            Issue.record("\(C.self): decommitted a page holding a live object (BITFIT_SEED=\(seed))")
                        }
                    }
                    decommitsSeen = decommits.count
                }
            } catch {
                Issue.record("\(C.self): step \(step) threw \(error) (BITFIT_SEED=\(seed))")
                return
            }
            if step % 200 == 199 && !compare(step) { return }
        }
        _ = compare(steps)
        #expect(heap.verify().isEmpty, "BITFIT_SEED=\(seed)")
        #expect(source.chunks.count == heap.statistics.chunkCount)
    }

    @Test func outOfLineHeapWorksOnInaccessibleChunks() throws {
        // Any read or write of chunk memory by the heap would fault and end the test run.
        let seed = BitfitModelTests.seed()
        var rng = SplitMix64(seed: seed)
        let source = PatternChunkSource(inaccessible: true)
        let heap = BitfitHeap<JITMediumBitfitConfig, PatternChunkSource>(chunks: source, pageSharing: nil)
        var live: [UnsafeMutableRawPointer] = []
        for _ in 0 ..< 2000 {
            switch Int.random(in: 0 ..< 10, using: &rng) {
            case 0 ..< 5:
                live.append(try heap.allocate(size: Int.random(in: 1 ... 40_000, using: &rng)))
            case 5 ..< 8:
                if !live.isEmpty { try heap.deallocate(live.remove(at: Int.random(in: 0 ..< live.count, using: &rng))) }
            case 8:
                if let p = live.randomElement(using: &rng) {
                    try heap.shrink(p, to: 1)
                    _ = try heap.tryReallocateInPlace(p, to: 3000)
                    #expect(try heap.size(of: p) >= 256)
                }
            default:
                _ = try heap.decommitEmptyPages()
            }
        }
        #expect(heap.verify().isEmpty, "BITFIT_SEED=\(seed)")
        for p in live { try heap.deallocate(p) }
        #expect(heap.statistics.liveBytes == 0)
        #expect(heap.verify().isEmpty, "BITFIT_SEED=\(seed)")
    }

    @Test func inlineConfigRefusesCodeMemory() async {
        await #expect(processExitsWith: .failure) {
            _ = BitfitHeap<SmallBitfitConfig, PatternChunkSource>(chunks: PatternChunkSource(), pageSharing: nil)
        }
    }
}
