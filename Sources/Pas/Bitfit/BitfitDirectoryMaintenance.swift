import PasSystem

/// Slow paths of a directory: empty pages, decommit, statistics, verification, iteration.
/// All of them take the directory lock for their whole run.
extension BitfitDirectory {
    /// Calls `body` with each committed empty page and the time it became empty.
    func forEachEmptyPage(_ body: (MemoryRange, UInt64) throws -> Void) rethrows {
        lock.lock()
        defer { lock.unlock() }
        for index in 0 ..< state.pointee.pageCount {
            let e = entry(page: index)
            if e.pointee.isCommitted && e.pointee.liveGranules == 0 {
                try body(MemoryRange(start: e.pointee.base, byteCount: Config.pageSize), e.pointee.emptySince)
            }
        }
    }

    /// Calls `body` with the start and size in bytes of every live object, in address order per page.
    func forEachLiveObject(_ body: (UnsafeMutableRawPointer, Int) throws -> Void) rethrows {
        lock.lock()
        defer { lock.unlock() }
        for index in 0 ..< state.pointee.pageCount {
            let e = entry(page: index)
            guard e.pointee.isCommitted, e.pointee.liveGranules > 0 else { continue }
            let page = BitfitPage<Config>(e)
            var position = 0
            while true {
                let start = page.freeBits.nextClear(from: position, limit: Config.payloadGranules)
                if start >= Config.payloadGranules { break }
                let end = page.objectEnd(start)
                if end >= Config.payloadGranules { break } // corrupt; `verify` reports it
                try body(page.address(ofGranule: start), (end - start + 1) << Config.granuleShift)
                position = end + 1
            }
        }
    }

    func statistics() -> BitfitStatistics {
        lock.lock()
        defer { lock.unlock() }
        let s = state.pointee
        let payloadBytes = Config.payloadGranules << Config.granuleShift
        return BitfitStatistics(
            liveBytes: s.liveGranules << Config.granuleShift,
            objectCount: s.objectCount,
            freeBytes: s.committedPages * payloadBytes - (s.liveGranules << Config.granuleShift),
            pageCount: s.pageCount,
            emptyPageCount: s.emptyPages,
            committedBytes: s.committedPages * Config.pageSize,
            decommittedBytes: (s.pageCount - s.committedPages) * Config.pageSize,
            chunkCount: s.chunkCount,
            metadataBytes: s.metadataBytes,
            reservedTableBytes: tablesRange.byteCount + pageMap.topRange.byteCount,
            failedPageSearches: s.failedPageSearches)
    }

    /// Checks every page's bits against the entry's counters and hints, the fit index against
    /// the hints, and the directory's totals against the pages. Returns the problems found.
    func verify() -> [BitfitProblem] {
        lock.lock()
        defer { lock.unlock() }
        var problems: [BitfitProblem] = []
        func report(_ e: UnsafeMutablePointer<Entry>?, _ what: String) {
            problems.append(BitfitProblem(pageAddress: e?.pointee.base ?? 0, description: what))
        }
        let limit = Config.payloadGranules
        var live = 0, objects = 0, empty = 0, committed = 0
        for index in 0 ..< state.pointee.pageCount {
            let e = entry(page: index)
            let page = BitfitPage<Config>(e)
            if e.pointee.index != index { report(e, "entry index \(e.pointee.index) != \(index)") }
            if e.pointee.largestFreeHint > limit || e.pointee.largestFreeHint < 0 {
                report(e, "hint \(e.pointee.largestFreeHint) outside 0...\(limit)")
            }
            for b in 0 ..< Config.bucketCount {
                let inBucket = fitIndex[b * fitWords + index >> 6] & (1 << UInt64(index & 63)) != 0
                if inBucket != (e.pointee.largestFreeHint >= 1 << b) {
                    report(e, "fit bucket \(b) membership \(inBucket) disagrees with hint \(e.pointee.largestFreeHint)")
                }
                if inBucket && fitCursors[b] > index >> 6 { report(e, "fit cursor of bucket \(b) is past a member") }
            }
            guard e.pointee.isCommitted else {
                if e.pointee.liveGranules != 0 { report(e, "decommitted page has \(e.pointee.liveGranules) live granules") }
                // An inline header went away with the page; an out-of-line one must read all free.
                if Config.headerPlacement == .outOfLine
                    && (!page.freeBits.allSet(0, limit) || !page.endBits.noneSet(0, limit))
                {
                    report(e, "decommitted page's out-of-line header is not all free")
                }
                continue
            }
            committed += 1
            let tail = Config.bitmapWords * 64
            if !page.freeBits.noneSet(limit, tail) || !page.endBits.noneSet(limit, tail) {
                report(e, "bits set past the payload's \(limit) granules")
            }
            // Word at a time: used = not free; an end bit only on a used granule; the last
            // granule of every run of used granules (next granule free or past the payload)
            // carries an end bit.
            var used = 0, ends = 0
            let free = page.freeBits.words, end = page.endBits.words
            for w in 0 ..< Config.bitmapWords {
                let valid = BitfitBitmap.mask(0, min(64, limit - w * 64))
                let usedWord = ~free[w] & valid
                let nextUsedBit: UInt64 = w + 1 < Config.bitmapWords && limit > (w + 1) * 64 && free[w + 1] & 1 == 0 ? 1 : 0
                let runEnds = usedWord & ~((usedWord >> 1) | (nextUsedBit << 63))
                if end[w] & free[w] != 0 {
                    report(e, "end bit on free granule \((w << 6) + (end[w] & free[w]).trailingZeroBitCount)")
                }
                if runEnds & ~end[w] != 0 {
                    report(
                        e, "used run ends at granule \((w << 6) + (runEnds & ~end[w]).trailingZeroBitCount) without an end bit")
                }
                used += usedWord.nonzeroBitCount
                ends += (end[w] & valid).nonzeroBitCount
            }
            if used != e.pointee.liveGranules {
                report(e, "live granules \(e.pointee.liveGranules) but \(used) used bits")
            }
            let longest = page.longestFreeRun()
            if e.pointee.largestFreeHint < longest {
                report(e, "hint \(e.pointee.largestFreeHint) below the longest free run \(longest)")
            }
            live += used
            objects += ends
            if used == 0 { empty += 1 }
        }
        let s = state.pointee
        if live != s.liveGranules { report(nil, "directory counts \(s.liveGranules) live granules, pages hold \(live)") }
        if objects != s.objectCount { report(nil, "directory counts \(s.objectCount) objects, pages hold \(objects)") }
        if empty != s.emptyPages { report(nil, "directory counts \(s.emptyPages) empty pages, found \(empty)") }
        if committed != s.committedPages {
            report(nil, "directory counts \(s.committedPages) committed pages, found \(committed)")
        }
        if s.pageCount != s.chunkCount * Config.pagesPerChunk {
            report(nil, "page count \(s.pageCount) != chunks × pages per chunk")
        }
        for c in 0 ..< s.chunkCount {
            let meta = chunkTable[c]!
            let base = meta.load(as: UInt.self)
            if pageMap.lookup(base) != meta || pageMap.lookup(base + UInt(Config.chunkSize - 1)) != meta {
                report(nil, "page map does not point chunk 0x\(String(base, radix: 16)) at its metadata")
            }
        }
        return problems
    }
}
