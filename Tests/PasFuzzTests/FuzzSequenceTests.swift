import Testing
import PasFuzz
import PasTestSupport

/// The fuzz sequences from fixed seeds: each seed's bytes come from SplitMix64, so a failure
/// replays from the seed in its message (`FuzzRunner.run(FuzzSequenceTests.bytes(seed:), ...)`).
/// scripts/fuzz.sh runs the same interpreter under libFuzzer.
@Suite struct FuzzSequenceTests {
    static let seeds: [UInt64] = Array(1 ... 12)

    static func bytes(seed: UInt64, count: Int = 3000) -> [UInt8] {
        var generator = SplitMix64(seed: seed)
        return (0 ..< count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func sequencesFromFixedSeedsKeepEveryCheck(target: FuzzTarget) throws {
        let heaps = try FuzzHeaps()
        for seed in Self.seeds {
            print("fuzz \(target) seed \(seed)")
            let failure = FuzzRunner.run(Self.bytes(seed: seed), on: heaps, target: target)
            #expect(failure == nil, "\(target) seed \(seed): \(failure.map(String.init(describing:)) ?? "")")
            if failure != nil { break }
        }
    }

    /// The checks themselves: a sequence whose block is overwritten behind the heap's back
    /// must fail at the next check of that block.
    @Test func aCorruptedBlockIsCaught() throws {
        let heaps = try FuzzHeaps()
        var sequence = PasHeapSequence(heap: heaps.general, paths: .checked)
        // allocate 100 bytes (opcode 0, size selector 0 -> 1...256, four bytes of value, no alignment byte)
        var input = FuzzInput([0, 0, 99, 0, 0, 0, 1, 1])
        try sequence.run(&input, maxSteps: 1)
        let block = try #require(sequence.shadow.live.first)
        UnsafeMutableRawPointer(bitPattern: block.address)!.storeBytes(of: block.tag &+ 1, toByteOffset: 7, as: UInt8.self)
        #expect(throws: FuzzFailure.self) { try sequence.finish() }
        UnsafeMutableRawPointer(bitPattern: block.address)!.storeBytes(of: block.tag, toByteOffset: 7, as: UInt8.self)
        try sequence.finish()
    }
}
