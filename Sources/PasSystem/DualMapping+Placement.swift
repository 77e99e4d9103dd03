extension DualMapping {
    /// Where a dual mapping's writable view was placed.
    public enum Placement: Sendable, Equatable, CustomStringConvertible {
        /// At a page chosen uniformly at random in the lower fifteen sixteenths of the user
        /// address space above 4 GiB (about 35 bits of entropy on x86-64 with 4 KiB pages,
        /// unrelated to the executable view's address).
        case random
        /// Where the kernel put it, because no random placement worked; `reason` says why.
        case kernel(reason: String)

        /// "random", or "kernel (reason)".
        public var description: String {
            switch self {
            case .random: return "random"
            case .kernel(let reason): return "kernel (\(reason))"
            }
        }
    }

    /// Random placements tried before falling back to the kernel's choice.
    static var placementAttempts: Int { 16 }

    /// True in a process built with ThreadSanitizer, whose `mmap` interceptor ends the process
    /// when a mapping lands outside the ranges it keeps for the application (a random hint
    /// can): such a process gets the kernel's placement. Looked up once.
    static let underThreadSanitizer: Bool = PlatformProcess.runsUnderThreadSanitizer()

    /// Maps all of `file` read + write at a random page-aligned address (`MAP_FIXED_NOREPLACE`,
    /// so an existing mapping is never replaced), retrying a few times on a collision, and
    /// falls back to kernel placement with the reason. Cost: one `mmap` per attempt.
    static func mapWritableView(of file: MemoryFile) throws(PasError) -> (MemoryRange, Placement) {
        let page = UInt(SystemInfo.pageSize)
        let size = UInt(file.byteCount)
        // The user address space ends at the power of two above the stack (2^47 on x86-64 with
        // 4-level page tables). Its top sixteenth holds the stack, the kernel's mmap area and
        // the shared libraries; stay out of it, and out of the low 4 GiB.
        var local = 0
        let stack = withUnsafeMutablePointer(to: &local) { UInt(bitPattern: $0) }
        let bits = UInt.bitWidth - stack.leadingZeroBitCount
        let low: UInt = 1 << 32
        let high = (UInt(1) << bits) - (UInt(1) << (bits - 4))
        var reason: String
        if bits < 36 || high <= low || high - low <= size {
            reason = "the address space (\(bits) bits) is too small to place \(size) bytes at random"
        } else if underThreadSanitizer {
            reason =
                "ThreadSanitizer reserves most of the address space for its shadow and stops a process that maps outside the application ranges"
        } else {
            let slots = (high - low - size) / page
            var rng = SystemRandomNumberGenerator()
            var collisions = 0
            reason = ""
            for _ in 0 ..< placementAttempts {
                let hint = low + UInt.random(in: 0 ..< slots, using: &rng) * page
                let raw: UnsafeMutableRawPointer
                do {
                    raw = try PlatformMemory.mapShared(
                        descriptor: file.descriptor, byteCount: Int(size), protection: .readWrite,
                        at: UnsafeMutableRawPointer(bitPattern: hint), use: .noReplace)
                } catch {
                    if error == .alreadyExists { collisions += 1; continue }
                    reason = "mmap(MAP_FIXED_NOREPLACE) failed: \(PasError.system(.mapView, errno: error.code))"
                    break
                }
                if UInt(bitPattern: raw) == hint { return (MemoryRange(raw, byteCount: Int(size)), .random) }
                // A kernel older than 4.17 takes the flag as a plain hint.
                try? PlatformMemory.unmap(raw, byteCount: Int(size))
                reason = "the kernel does not honour MAP_FIXED_NOREPLACE"
                break
            }
            if reason.isEmpty { reason = "\(collisions) random addresses were all taken" }
        }
        return (try file.map(protection: .readWrite, at: nil, fixed: false), .kernel(reason: reason))
    }
}
