import PasJIT
import PasSystem

/// `pas_jit_heap_options` (pas_jit_heap.h), field for field. Fixed-width fields in C order,
/// so the layout is the C one; the header asserts the same offsets and size, and the tests
/// check both sides.
@frozen
public struct CJITHeapOptions: Sendable, Equatable {
    /// Bytes of code address space to reserve; 0 reserves nothing (fresh memory only).
    public var regionSize: UInt64
    /// `CProtectionMode` raw values to try in order, ending at the first 0.
    public var protectionModes: (UInt32, UInt32, UInt32, UInt32)
    /// A `CFill` raw value.
    public var fill: UInt32
    /// The byte repeated over freed code when `fill` is `CFill.byte`.
    public var fillByte: UInt32
    /// Must be 0.
    public var reserved: UInt64

    /// The defaults of `pas_jit_heap_options_init`.
    public init() {
        let defaults = JITHeap.Options()
        regionSize = UInt64(defaults.regionSize)
        protectionModes = (CProtectionMode.dualMapped.rawValue, 0, 0, 0)
        fill = CFill.trap.rawValue
        fillByte = 0
        reserved = 0
    }

    /// True if every field of `a` equals the same field of `b` (`protectionModes` entry by
    /// entry: written out because a tuple is not `Equatable`). A few compares; any thread.
    public static func == (a: CJITHeapOptions, b: CJITHeapOptions) -> Bool {
        a.regionSize == b.regionSize && a.protectionModes == b.protectionModes && a.fill == b.fill
            && a.fillByte == b.fillByte && a.reserved == b.reserved
    }

    /// The Swift options these describe, or a description of the first bad field.
    func jitOptions() -> Result<JITHeap.Options, OptionsProblem> {
        guard reserved == 0 else { return .failure(OptionsProblem("reserved field is \(reserved), must be 0")) }
        guard regionSize <= UInt64(Int.max) else { return .failure(OptionsProblem("region size \(regionSize) too large")) }
        let page = UInt64(SystemInfo.pageSize)
        guard regionSize % page == 0 else {
            return .failure(OptionsProblem("region size \(regionSize) is not a multiple of the page size (\(page))"))
        }
        var modes: [ProtectionMode] = []
        let listed = [protectionModes.0, protectionModes.1, protectionModes.2, protectionModes.3]
        for raw in listed {
            if raw == 0 { break }
            guard let mode = CProtectionMode(rawValue: raw)?.mode else {
                return .failure(OptionsProblem("unknown protection mode \(raw)"))
            }
            modes.append(mode)
        }
        guard !modes.isEmpty else { return .failure(OptionsProblem("no protection mode listed")) }
        let pattern: FillPattern
        switch CFill(rawValue: fill) {
        case .trap: pattern = .trap
        case .leave: pattern = .none
        case .byte:
            guard fillByte <= 0xFF else { return .failure(OptionsProblem("fill byte \(fillByte) is not a byte")) }
            pattern = .byte(UInt8(fillByte))
        case nil: return .failure(OptionsProblem("unknown fill \(fill)"))
        }
        return .success(
            JITHeap.Options(
                regionSize: Int(regionSize), protectionModes: modes,
                fillPattern: pattern, reservesRegion: regionSize != 0))
    }
}

/// `pas_jit_heap_statistics` (pas_jit_heap.h), field for field.
@frozen
public struct CJITHeapStatistics: Sendable {
    /// A `CProtectionMode` raw value.
    public var protectionMode: UInt32
    /// Padding, always 0.
    public var reserved0: UInt32
    /// `JITHeap.Statistics.reservedBytes`.
    public var reservedBytes: UInt64
    /// `JITHeap.Statistics.usedAddressSpace`.
    public var usedAddressSpace: UInt64
    /// `JITHeap.Statistics.liveBytes`.
    public var liveBytes: UInt64
    /// `JITHeap.Statistics.blockCount`.
    public var blockCount: UInt64
    /// `JITHeap.Statistics.decommittedBytes`.
    public var decommittedBytes: UInt64
    /// `JITHeap.Statistics.residentCodeBytes`, or -1 for nil.
    public var residentCodeBytes: Int64

    /// All zero.
    public init() {
        protectionMode = 0; reserved0 = 0; reservedBytes = 0; usedAddressSpace = 0
        liveBytes = 0; blockCount = 0; decommittedBytes = 0; residentCodeBytes = 0
    }

    init(_ s: JITHeap.Statistics) {
        protectionMode = CProtectionMode(s.protectionMode).rawValue
        reserved0 = 0
        reservedBytes = UInt64(s.reservedBytes)
        usedAddressSpace = UInt64(s.usedAddressSpace)
        liveBytes = UInt64(s.liveBytes)
        blockCount = UInt64(s.blockCount)
        decommittedBytes = UInt64(s.decommittedBytes)
        residentCodeBytes = s.residentCodeBytes.map { Int64($0) } ?? -1
    }
}

/// Why a `pas_jit_heap_options` was refused.
struct OptionsProblem: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// `pas_jit_protection_mode` values (0 ends a list and is never a mode).
public enum CProtectionMode: UInt32, Sendable, CaseIterable {
    case none = 0, dualMapped = 1, rwx = 2, toggled = 3

    init(_ mode: ProtectionMode) {
        switch mode {
        case .dualMapped: self = .dualMapped
        case .rwx: self = .rwx
        case .toggled: self = .toggled
        }
    }

    var mode: ProtectionMode? {
        switch self {
        case .none: return nil
        case .dualMapped: return .dualMapped
        case .rwx: return .rwx
        case .toggled: return .toggled
        }
    }
}

/// `pas_jit_fill` values: trap instruction, leave freed code as it is, or a repeated byte.
public enum CFill: UInt32, Sendable {
    case trap = 0, leave = 1, byte = 2
}
