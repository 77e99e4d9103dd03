import CPasShim
import PasSystem
import ToyJITCore

/// Test-only `CodeMemory`: a bump allocator over one `DualMapping`. Code is written
/// through the writable view and runs at the executable view; released space is not
/// reused. Tracks live blocks so misuse (unknown address, double release) throws.
final class DualMappingCodeMemory: CodeMemory {
    let mapping: DualMapping
    /// Offset of the first free byte.
    private var next = 0
    /// Live blocks: executable address -> size.
    private(set) var live: [UInt: Int] = [:]
    private(set) var released: [UInt] = []

    init(byteCount: Int) throws {
        mapping = try DualMapping(byteCount: byteCount, name: "toyjit-test")
    }

    var liveBytes: Int { live.values.reduce(0, +) }

    func install(_ bytes: [UInt8], alignment: Int) throws -> UInt {
        guard !bytes.isEmpty else { throw PasError.invalidSize(.allocate, 0) }
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw PasError.invalidAlignment(.allocate, alignment)
        }
        let offset = (next + alignment - 1) & ~(alignment - 1)
        guard offset + bytes.count <= mapping.byteCount else {
            throw PasError.outOfMemory(.allocate, requested: bytes.count)
        }
        // Invariant: [offset, offset + count) lies inside both views of the mapping and
        // belongs to no live block (the bump pointer only moves forward past live blocks).
        let destination = mapping.writable.pointer + offset
        bytes.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        let address = mapping.executable.start + UInt(offset)
        let start = mapping.executable.pointer + offset
        pas_shim_flush_icache(start, start + bytes.count)
        live[address] = bytes.count
        next = offset + bytes.count
        return address
    }

    func release(_ address: UInt) throws {
        guard live.removeValue(forKey: address) != nil else {
            throw PasError.unknownPointer(.deallocate, address: address)
        }
        released.append(address)
    }

    func shrink(_ address: UInt, to size: Int) throws {
        guard let old = live[address] else { throw PasError.unknownPointer(.shrink, address: address) }
        guard size > 0, size <= old else { throw PasError.invalidSize(.shrink, size) }
        live[address] = size
        // The most recent block gives its tail back to the bump pointer.
        if address + UInt(old) == mapping.executable.start + UInt(next) { next -= old - size }
    }
}

/// A `CodeMemory` that fails its `failingInstall`-th install (0-based) with `error`,
/// delegating everything else.
final class FailingCodeMemory: CodeMemory {
    struct Injected: Error, Equatable { let installIndex: Int }
    let base: DualMappingCodeMemory
    let failingInstall: Int
    private var installs = 0

    init(base: DualMappingCodeMemory, failingInstall: Int) {
        self.base = base
        self.failingInstall = failingInstall
    }

    func install(_ bytes: [UInt8], alignment: Int) throws -> UInt {
        defer { installs += 1 }
        if installs == failingInstall { throw Injected(installIndex: installs) }
        return try base.install(bytes, alignment: alignment)
    }

    func release(_ address: UInt) throws { try base.release(address) }
    func shrink(_ address: UInt, to size: Int) throws { try base.shrink(address, to: size) }
}
