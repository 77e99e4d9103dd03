import Pas

/// Sizes and alignments the sequences ask for: mostly small, with every routing boundary of
/// the heaps and its neighbours, and now and then a large block.
enum FuzzSizes {
    /// The boundaries where a request changes building block.
    static let boundaries: [Int] = [
        1, 15, 16, 17, 2047, 2048, 2049, 4095, 4096, 4097, 16383, 16384, 16385,
        65535, 65536, 65537, 655_359, 655_360, 655_361, 1 << 20,
    ]

    /// A size for the general heap and the malloc paths (1 byte ... 2 MiB).
    static func heapSize(_ input: inout FuzzInput) -> Int {
        switch input.byte() % 10 {
        case 0, 1, 2: return input.value(in: 1 ... 256)
        case 3, 4: return input.value(in: 1 ... PasHeap.smallLimit)
        case 5: return input.value(in: PasHeap.smallLimit + 1 ... PasHeap.mediumLimit)
        case 6: return input.value(in: PasHeap.mediumLimit + 1 ... PasHeap.margeLimit)
        case 7: return input.value(in: PasHeap.margeLimit + 1 ... 2 << 20)
        default: return input.pick(boundaries)
        }
    }

    /// A size for the JIT heap (1 byte ... 1 MiB: small and medium bitfit, and large).
    static func codeSize(_ input: inout FuzzInput) -> Int {
        switch input.byte() % 8 {
        case 0, 1, 2: return input.value(in: 1 ... 512)
        case 3: return input.value(in: 1 ... JITSmallBitfitConfig.maxObjectSize)
        case 4: return input.value(in: JITSmallBitfitConfig.maxObjectSize + 1 ... JITMediumBitfitConfig.maxObjectSize)
        case 5: return input.value(in: JITMediumBitfitConfig.maxObjectSize + 1 ... 1 << 20)
        default: return input.pick(boundaries.filter { $0 <= 1 << 20 })
        }
    }

    /// An alignment for aligned requests: mostly the default, sometimes up to 64 KiB.
    static func alignment(_ input: inout FuzzInput) -> Int {
        input.pick([16, 16, 16, 16, 1, 8, 32, 64, 256, 4096, 8192, 65536])
    }
}

/// A few addresses no heap of a sequence hands out: a global buffer, a stack-like low
/// address, the top of the user address space.
enum ForeignAddresses {
    /// 32 bytes of this module's own memory, allocated once and never freed or written.
    static let buffer = UInt(bitPattern: UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 16))

    static func pick(_ input: inout FuzzInput) -> UInt {
        // Invariant: the address is only compared and passed to a heap that must refuse it;
        // nothing is read or written through it.
        input.pick([buffer, buffer + 16, 0x1000, 0x10_0000, 0x7FFF_FFFF_F000])
    }
}
