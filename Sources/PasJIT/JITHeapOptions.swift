import Pas
extension JITHeap {
    /// How a `JITHeap` is created.
    public struct Options: Sendable {
        /// Bytes of address space reserved for code up front. Memory is committed a chunk at
        /// a time (256 KiB to 2 MiB, trap-filled) as the sub-heaps need it; the rest stays
        /// inaccessible. Default 256 MiB.
        public var regionSize: Int = 256 << 20
        /// Protection modes to try, in order; the first that the system allows is used.
        /// Default: dual mapped only (a refused mode is an error, not a silent weakening).
        public var protectionModes: [ProtectionMode] = [.dualMapped]
        /// What freed code is overwritten with. Default: the trap instruction.
        public var fillPattern: FillPattern = .trap
        /// Reserve no region: the heap allocates only from memory given to `addFreshMemory`.
        public var reservesRegion: Bool = true
        /// The pool the heap's three sub-heaps report empty code pages to; its scavenger
        /// returns them to the system (punching them out of the code file in dual-mapped
        /// regions). Default: the process-wide pool. nil: only `decommitEmptyPages(olderThan:)` returns pages.
        public var pageSharing: PageSharingPool? = .shared
        /// How long a code page must stay empty before the scavenger returns it; nil for the
        /// pool's delay (300 ms by default).
        public var scavengeDelay: Duration? = nil
        /// The smallest region the caller accepts when `regionSize` cannot be reserved (the
        /// address space is exhausted or limited): the heap then halves the size, in 2 MiB
        /// steps, down to this. nil (the default): only `regionSize`, and a region that does not
        /// fit is `.outOfMemory(.reserve, requested: regionSize)`. `regionSize` in the
        /// statistics tells what was reserved.
        public var minimumRegionSize: Int? = nil

        /// Options with the given values; a parameter left out keeps the default of the
        /// property of the same name (`minimumRegionSize` stays nil: set the property).
        public init(
            regionSize: Int = 256 << 20, protectionModes: [ProtectionMode] = [.dualMapped],
            fillPattern: FillPattern = .trap, reservesRegion: Bool = true,
            pageSharing: PageSharingPool? = .shared, scavengeDelay: Duration? = nil
        ) {
            self.regionSize = regionSize
            self.protectionModes = protectionModes
            self.fillPattern = fillPattern
            self.reservesRegion = reservesRegion
            self.pageSharing = pageSharing
            self.scavengeDelay = scavengeDelay
        }

        /// Options for one mode only.
        public static func mode(_ mode: ProtectionMode, regionSize: Int = 256 << 20) -> Options {
            Options(regionSize: regionSize, protectionModes: [mode])
        }
    }

    /// A snapshot of a heap's memory use.
    public struct Statistics: Sendable, CustomStringConvertible {
        /// How writes reach code (the mode chosen at creation).
        public var protectionMode: ProtectionMode
        /// Bytes of code address space in all regions.
        public var reservedBytes: Int
        /// Bytes of regions handed to the allocators so far.
        public var usedAddressSpace: Int
        /// Bytes in live blocks (rounded to each heap's granule).
        public var liveBytes: Int
        /// Number of live blocks.
        public var blockCount: Int
        /// Share of committed bytes not holding live code: 1 − live ÷ committed (0 when empty).
        public var fragmentation: Double { committedBytes > 0 ? 1 - Double(liveBytes) / Double(committedBytes) : 0 }
        /// Bytes decommitted (given back to the system) by the allocators and not reused since.
        public var decommittedBytes: Int
        /// Bytes of physical memory the code file holds (dual-mapped regions we created), or nil.
        public var residentCodeBytes: Int?
        /// Bytes of code pages the sub-heaps hold committed (pages in use, or empty but not yet
        /// given back).
        public var committedBytes: Int = 0
        /// Bytes free inside those committed pages.
        public var freeBytes: Int = 0

        /// One line: mode, reserved, used, live, committed and decommitted sizes, fragmentation.
        public var description: String {
            var s = "mode \(protectionMode), reserved \(reservedBytes >> 10) KiB, used \(usedAddressSpace >> 10) KiB, "
            s += "live \(liveBytes) B in \(blockCount) blocks, committed \(committedBytes >> 10) KiB, "
            s += "fragmentation \(Int((fragmentation * 100).rounded()))%, "
            s += "decommitted \(decommittedBytes >> 10) KiB"
            if let r = residentCodeBytes { s += ", resident code \(r >> 10) KiB" }
            return s
        }
    }
}
