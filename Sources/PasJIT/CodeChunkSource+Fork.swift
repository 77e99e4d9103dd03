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
    /// Before a fork (called by `ForkRegistry` on the forking thread): at `leaf`, takes the
    /// source's lock, then the toggle lock of each toggled region in region order; at
    /// `snapshot`, copies the file of each dual mapping the source owns (a memfd and a copy of
    /// the resident code per region). Other stages: nothing.
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

    /// In the parent after a fork: releases the locks `prepareForFork` took (`leaf`) and closes
    /// the file copies (`snapshot`).
    public func parentAfterFork(_ stage: ForkStage) {
        switch stage {
        case .leaf: releaseLeafLocks()
        case .snapshot: clearForkCopies()
        default: break
        }
    }

    /// In the child after a fork (its only thread): releases the locks (`leaf`); maps each
    /// copy over both views of its dual mapping, and detaches a dual-mapped region that got no
    /// copy (`snapshot`). Cost: two `mmap`s per adopted region and an `mprotect` per hole in
    /// its file.
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
