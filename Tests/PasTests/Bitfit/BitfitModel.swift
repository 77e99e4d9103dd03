import Pas
import PasSystem

/// A deliberately simple reference model of a bitfit heap: one `[Bool]` per page (true =
/// used), a dictionary of live objects, pages in the order the heap received them, and
/// first fit written as the plainest loop. The randomised test runs the heap and this model
/// side by side and compares every answer.
struct BitfitModel<C: BitfitConfig> {
    struct Page {
        var base: UInt
        var used: [Bool]
        var committed = true
    }
    var pages: [Page] = []
    /// Live objects: start address → size in granules.
    var objects: [UInt: Int] = [:]
    var knownChunks: Set<UInt> = []

    static var granules: Int { C.payloadGranules }
    static var offsetGranules: Int { C.payloadOffset / C.granule }

    func payloadStart(_ page: Int) -> UInt { pages[page].base + UInt(C.payloadOffset) }

    func address(page: Int, granule: Int) -> UInt { payloadStart(page) + UInt(granule * C.granule) }

    /// The page holding `address`, if the heap has one.
    func page(containing address: UInt) -> Int? {
        pages.firstIndex { address >= $0.base && address < $0.base + UInt(C.pageSize) }
    }

    /// Lowest granule `i` with `(offset + i) % align == 0` and `count` free granules from `i`.
    func firstFit(in page: Int, count: Int, alignGranules: Int) -> Int? {
        let used = pages[page].used
        var i = 0
        while i + count <= used.count {
            if (Self.offsetGranules + i) % alignGranules == 0 && !used[i ..< i + count].contains(true) { return i }
            i += 1
        }
        return nil
    }

    /// Whether an empty page can hold the request at all.
    static func feasible(count: Int, alignGranules: Int) -> Bool {
        var first = 0
        while (offsetGranules + first) % alignGranules != 0 { first += 1 }
        return first + count <= granules
    }

    /// Where the heap must put `count` granules: a committed page by first fit, else the first
    /// decommitted page, else nil (a new chunk, whose first page takes it).
    func expectedPlacement(count: Int, alignGranules: Int) -> (page: Int, granule: Int)? {
        for p in pages.indices where pages[p].committed {
            if let g = firstFit(in: p, count: count, alignGranules: alignGranules) { return (p, g) }
        }
        for p in pages.indices where !pages[p].committed {
            return (p, firstFit(in: p, count: count, alignGranules: alignGranules)!)
        }
        return nil
    }

    mutating func addChunk(start: UInt) {
        knownChunks.insert(start)
        for slot in 0 ..< C.chunkSize / C.pageSize {
            pages.append(Page(base: start + UInt(slot * C.pageSize), used: Array(repeating: false, count: Self.granules)))
        }
    }

    mutating func markUsed(page: Int, granule: Int, count: Int, used: Bool) {
        for i in granule ..< granule + count { pages[page].used[i] = used }
    }

    mutating func allocate(page: Int, granule: Int, count: Int) {
        pages[page].committed = true
        markUsed(page: page, granule: granule, count: count, used: true)
        objects[address(page: page, granule: granule)] = count
    }

    mutating func free(_ address: UInt) {
        let count = objects.removeValue(forKey: address)!
        let p = page(containing: address)!
        markUsed(page: p, granule: Int(address - payloadStart(p)) / C.granule, count: count, used: false)
    }

    mutating func resize(_ address: UInt, to newCount: Int) {
        let count = objects[address]!
        let p = page(containing: address)!
        let start = Int(address - payloadStart(p)) / C.granule
        if newCount < count {
            markUsed(page: p, granule: start + newCount, count: count - newCount, used: false)
        } else {
            markUsed(page: p, granule: start + count, count: newCount - count, used: true)
        }
        objects[address] = newCount
    }

    /// Can the object at `address` grow to `newCount` granules in place?
    func canGrow(_ address: UInt, to newCount: Int) -> Bool {
        let count = objects[address]!
        if newCount <= count { return true }
        let p = page(containing: address)!
        let start = Int(address - payloadStart(p)) / C.granule
        guard start + newCount <= Self.granules else { return false }
        return !pages[p].used[start + count ..< start + newCount].contains(true)
    }

    /// Pages entirely free and committed; `decommitEmptyPages` must take exactly these.
    mutating func decommitEmpty() -> Int {
        var bytes = 0
        for p in pages.indices where pages[p].committed && !pages[p].used.contains(true) {
            pages[p].committed = false
            bytes += C.pageSize
        }
        return bytes
    }

    /// The error a heap must give for freeing `address`, or nil if it is a live object's start.
    func expectedFreeError(_ address: UInt) -> PasError? {
        guard let p = page(containing: address) else { return .unknownPointer(.deallocate, address: address) }
        if objects[address] != nil { return nil }
        let start = payloadStart(p)
        guard address >= start, (address - start) % UInt(C.granule) == 0 else {
            return .unknownPointer(.deallocate, address: address)
        }
        let i = Int(address - start) / C.granule
        guard i < Self.granules else { return .unknownPointer(.deallocate, address: address) }
        if !pages[p].committed || !pages[p].used[i] { return .doubleFree(.deallocate, address: address) }
        return .unknownPointer(.deallocate, address: address)
    }

    var liveGranules: Int { objects.values.reduce(0, +) }
}
