/// Wraps raw machine code in a minimal ELF64 little-endian relocatable object whose only
/// content is a `.text` section, so standard tools (llvm-objdump) can read it.
enum ELFObject {
    /// The ELF `e_machine` value of `architecture` (EM_X86_64 = 62, EM_AARCH64 = 183).
    static func machine(_ architecture: Architecture) -> UInt16 {
        switch architecture {
        case .x86_64: return 62
        case .arm64: return 183
        }
    }

    /// Appends little-endian integers to a byte array.
    struct Writer {
        var bytes: [UInt8] = []
        mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        mutating func pad(to count: Int) { bytes += [UInt8](repeating: 0, count: max(0, count - bytes.count)) }

        /// The 16-byte `e_ident`: magic, 64-bit, little-endian, version 1, System V ABI.
        mutating func identification() {
            bytes += [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        }
    }

    /// The object file bytes. Cost: linear in `code.count`.
    static func relocatable(code: [UInt8], architecture: Architecture) -> [UInt8] {
        var out = Writer()
        let names: [UInt8] = Array("\0.text\0.shstrtab\0".utf8)
        let textOffset = 64, namesOffset = 64 + code.count
        let sectionsOffset = (namesOffset + names.count + 7) & ~7
        out.identification()
        out.u16(1); out.u16(machine(architecture)); out.u32(1) // ET_REL, machine, EV_CURRENT
        out.u64(0); out.u64(0); out.u64(UInt64(sectionsOffset)) // entry, phoff, shoff
        out.u32(0); out.u16(64); out.u16(0); out.u16(0); out.u16(64); out.u16(3); out.u16(2) // flags, sizes, counts, shstrndx
        out.bytes += code + names
        out.pad(to: sectionsOffset)
        func section(name: UInt32, type: UInt32, flags: UInt64, offset: Int, size: Int, align: UInt64) {
            out.u32(name); out.u32(type); out.u64(flags); out.u64(0); out.u64(UInt64(offset)); out.u64(UInt64(size))
            out.u32(0); out.u32(0); out.u64(align); out.u64(0)
        }
        out.pad(to: sectionsOffset + 64) // the null section
        section(name: 1, type: 1, flags: 6, offset: textOffset, size: code.count, align: 4) // .text: PROGBITS, ALLOC|EXECINSTR
        section(name: 7, type: 3, flags: 0, offset: namesOffset, size: names.count, align: 1) // .shstrtab: STRTAB
        return out.bytes
    }
}
