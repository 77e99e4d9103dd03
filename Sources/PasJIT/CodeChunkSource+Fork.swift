import PasSystem
import Pas

/// Fork support for code memory (see `CodeChunkSource`).
///
/// Prepare: at the `leaf` stage the source's lock and the toggle locks of its toggled regions
/// (in region order); at the `snapshot` stage, once the sub-heaps' locks are held (so no
/// allocation, fill or decommit changes a code file), a copy of each owned dual mapping's file.
/// Lock-free writes into blocks the parent already owns (`copy`, `withWritableBytes`, the fill
/// of a large block before its free) may race with the copy; the child then sees the block
/// partly written, as if the fork had happened in the middle of the write.
///
/// Child: each copy is mapped over both views at the same addresses (`DualMapping.adoptFile`);
/// a region that could not be given a copy is detached. Parent: the copies are closed.
/// Runtime-provided regions in `.rwx` or `.toggled` mode are assumed private memory (copied
/// on write by fork) and need nothing.
extension CodeChunkSource: ForkParticipant {
    public func prepareForFork(_ stage: ForkStage) {
        switch stage {
        case .leaf:
            lock.lock()
            var i = 0
            while i < regions.count {
                if regions[i].mode == .toggled { regions[i].toggleLock.lock() }
                i += 1
            }
        case .snapshot:
            // `forkCopies` has one slot per region (made by `add`), so nothing new is typed here.
            var i = 0
            while i < regions.count {
                let r = regions[i]
                if r.ownsMapping, let m = r.mapping { forkCopies[i] = try? m.copyFile() }
                i += 1
            }
        default: break
        }
    }

    public func parentAfterFork(_ stage: ForkStage) {
        switch stage {
        case .leaf: releaseLeafLocks()
        case .snapshot: clearForkCopies()
        default: break
        }
    }

    public func childAfterFork(_ stage: ForkStage) {
        switch stage {
        case .leaf: releaseLeafLocks()
        case .snapshot:
            var i = 0
            while i < regions.count {
                let r = regions[i]
                if r.mode == .dualMapped {
                    var adopted = false
                    if r.ownsMapping, let m = r.mapping, let copy = forkCopies[i] {
                        adopted = (try? m.adoptFile(copy, holeProtection: CodeRegion.executableHoleProtection)) != nil
                    }
                    if !adopted { detach(regionAt: i) }
                }
                i += 1
            }
            clearForkCopies()
        default: break
        }
    }

    private func releaseLeafLocks() {
        var i = regions.count
        while i > 0 {
            i -= 1
            if regions[i].mode == .toggled { regions[i].toggleLock.unlock() }
        }
        lock.unlock()
    }

    /// Drops the copies (closing their files in the parent; in the child the mappings keep them).
    private func clearForkCopies() {
        var i = 0
        while i < forkCopies.count { forkCopies[i] = nil; i += 1 }
    }
}
