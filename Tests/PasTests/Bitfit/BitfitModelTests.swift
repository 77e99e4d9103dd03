import Testing
import PasTestSupport
import Pas
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

/// Random operation sequences run against a heap and `BitfitModel` side by side, with
/// `verify()` after every step. A failure names the seed; set `BITFIT_SEED` to replay it.
@Suite struct BitfitModelTests {
    static func seed() -> UInt64 {
        if let text = getenv("BITFIT_SEED"), let value = UInt64(String(cString: text)) { return value }
        return freshSeed()
    }

    @Test func smallInlineConfigMatchesTheModel() { run(SmallBitfitConfig.self, sequences: 12, steps: 400) }
    @Test func jitSmallConfigMatchesTheModel() { run(JITSmallBitfitConfig.self, sequences: 12, steps: 400) }
    @Test func jitMediumConfigMatchesTheModel() { run(JITMediumBitfitConfig.self, sequences: 8, steps: 400) }

    func run<C: BitfitConfig>(_: C.Type, sequences: Int, steps: Int) {
        let seed = Self.seed()
        var seeds = SplitMix64(seed: seed)
        for sequence in 0 ..< sequences {
            let sequenceSeed = seeds.next()
            if let failure = runSequence(C.self, seed: sequenceSeed, steps: steps) {
                Issue.record("\(C.self): \(failure) (BITFIT_SEED=\(seed), sequence \(sequence), sequence seed \(sequenceSeed))")
                return
            }
        }
    }

    /// Runs one sequence; returns a description of the first disagreement, or nil.
    func runSequence<C: BitfitConfig>(_: C.Type, seed: UInt64, steps: Int) -> String? {
        var rng = SplitMix64(seed: seed)
        let source = PatternChunkSource(allowsMetadata: C.headerPlacement == .inline)
        let heap = BitfitHeap<C, PatternChunkSource>(chunks: source, pageSharing: nil)
        var model = BitfitModel<C>()
        var recentlyFreed: [UInt] = []
        let g = C.granule

        func randomSize() -> Int {
            switch Int.random(in: 0 ..< 100, using: &rng) {
            case 0 ..< 60: return Int.random(in: 1 ... min(256, C.maxObjectSize), using: &rng)
            case 60 ..< 95: return Int.random(in: 1 ... C.maxObjectSize / 4, using: &rng)
            default: return Int.random(in: 1 ... C.maxObjectSize, using: &rng)
            }
        }
        func randomObject() -> UInt? { model.objects.keys.randomElement(using: &rng) }

        for step in 0 ..< steps {
            let where_ = "step \(step)"
            let roll = Int.random(in: 0 ..< 100, using: &rng)
            switch roll {
            case 0 ..< 42 where model.objects.count < 150:
                let size = randomSize()
                var alignment = g
                if Int.random(in: 0 ..< 100, using: &rng) < 15 { alignment = 1 << Int.random(in: 3 ... 13, using: &rng) }
                let count = (size + g - 1) / g
                let alignGranules = max(1, alignment / g)
                guard BitfitModel<C>.feasible(count: count, alignGranules: alignGranules) else {
                    do {
                        _ = try heap.allocate(size: size, alignment: alignment);
                        return "\(where_): infeasible alignment \(alignment) for \(size) B was accepted"
                    } catch { if error != .invalidAlignment(.allocate, alignment) { return "\(where_): wrong error \(error)" } }
                    break
                }
                let expected = model.expectedPlacement(count: count, alignGranules: alignGranules)
                let p: UnsafeMutableRawPointer
                do { p = try heap.allocate(size: size, alignment: alignment) } catch {
                    return "\(where_): allocate(\(size), \(alignment)) threw \(error)"
                }
                if p.address % UInt(alignment) != 0 { return "\(where_): \(p) not aligned to \(alignment)" }
                if let expected {
                    let want = model.address(page: expected.page, granule: expected.granule)
                    if p.address != want {
                        return
                            "\(where_): allocate(\(size), \(alignment)) gave 0x\(String(p.address, radix: 16)), first fit is 0x\(String(want, radix: 16))"
                    }
                    model.allocate(page: expected.page, granule: expected.granule, count: count)
                } else {
                    let chunk = p.address & ~UInt(C.chunkSize - 1)
                    if model.knownChunks.contains(chunk) { return "\(where_): grew although no page should fit" }
                    model.addChunk(start: chunk)
                    let first = model.pages.count - C.chunkSize / C.pageSize
                    guard let g0 = model.firstFit(in: first, count: count, alignGranules: alignGranules),
                        p.address == model.address(page: first, granule: g0)
                    else { return "\(where_): new chunk not used from its first page" }
                    model.allocate(page: first, granule: g0, count: count)
                }
                recentlyFreed.removeAll { $0 == p.address }
            case 0 ..< 70:
                guard let a = randomObject() else { break }
                do { try heap.deallocate(UnsafeMutableRawPointer(bitPattern: a)!) } catch {
                    return "\(where_): free threw \(error)"
                }
                model.free(a)
                recentlyFreed.append(a)
            case 70 ..< 80:
                guard let a = randomObject() else { break }
                let current = model.objects[a]!
                let newSize = Int.random(in: 1 ... current * g, using: &rng)
                do { try heap.shrink(UnsafeMutableRawPointer(bitPattern: a)!, to: newSize) } catch {
                    return "\(where_): shrink threw \(error)"
                }
                model.resize(a, to: (newSize + g - 1) / g)
            case 80 ..< 87:
                guard let a = randomObject() else { break }
                let newSize = Int.random(in: 1 ... C.maxObjectSize + g, using: &rng)
                let newCount = (newSize + g - 1) / g
                let want =
                    newSize <= C.maxObjectSize && model.canGrow(a, to: newCount)
                    || newCount <= model.objects[a]!
                let got: Bool
                do { got = try heap.tryReallocateInPlace(UnsafeMutableRawPointer(bitPattern: a)!, to: newSize) } catch {
                    return "\(where_): reallocate threw \(error)"
                }
                if got != want { return "\(where_): reallocate in place to \(newSize) gave \(got), model says \(want)" }
                if got { model.resize(a, to: newCount) }
            case 87 ..< 92:
                guard let a = randomObject() else { break }
                let size = try? heap.size(of: UnsafeRawPointer(bitPattern: a)!)
                if size != model.objects[a]! * g {
                    return "\(where_): size \(String(describing: size)) != \(model.objects[a]! * g)"
                }
            case 92 ..< 98:
                // A bad or stale pointer: a recently freed object, or a random spot in a page.
                guard !model.pages.isEmpty else { break }
                var a: UInt
                if let stale = recentlyFreed.randomElement(using: &rng), Bool.random(using: &rng) {
                    a = stale
                } else {
                    let page = model.pages.randomElement(using: &rng)!
                    a = page.base + UInt(Int.random(in: 0 ..< C.pageSize, using: &rng) & ~(Bool.random(using: &rng) ? g - 1 : 0))
                }
                let want = model.expectedFreeError(a)
                if want == nil { break } // a live object's start: not a bad pointer
                do {
                    try heap.deallocate(UnsafeMutableRawPointer(bitPattern: a)!);
                    return "\(where_): bad free of 0x\(String(a, radix: 16)) succeeded"
                } catch { if error != want { return "\(where_): bad free gave \(error), expected \(want!)" } }
            default:
                let want = model.decommitEmpty()
                let got: Int
                do { got = try heap.decommitEmptyPages() } catch { return "\(where_): decommit threw \(error)" }
                if got != want { return "\(where_): decommitted \(got) B, model says \(want)" }
            }
            let problems = heap.verify()
            if !problems.isEmpty { return "\(where_): verify: \(problems)" }
            if step % 50 == 49 || step == steps - 1 {
                var seen: [UInt: Int] = [:]
                heap.forEachLiveObject { p, size in seen[p.address] = size / g }
                if seen != model.objects { return "\(where_): live objects differ from the model" }
                let stats = heap.statistics
                if stats.liveBytes != model.liveGranules * g || stats.objectCount != model.objects.count {
                    return "\(where_): statistics \(stats) disagree with the model"
                }
                if stats.pageCount != model.pages.count {
                    return "\(where_): \(stats.pageCount) pages, model has \(model.pages.count)"
                }
            }
        }
        return nil
    }
}
