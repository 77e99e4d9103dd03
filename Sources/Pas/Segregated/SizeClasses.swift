/// The size classes every segregated heap uses, and the arithmetic between sizes and classes.
///
/// Table (minimum alignment 16 bytes):
///
/// | classes | sizes | step |
/// | --- | --- | --- |
/// | 0 ... 7 | 16, 32, 48, 64, 80, 96, 112, 128 | 16 |
/// | 8 ... 11 | 160, 192, 224, 256 | 32 |
/// | 12 ... 15 | 320, 384, 448, 512 | 64 |
/// | 16 ... 19 | 640, 768, 896, 1024 | 128 |
/// | 20 ... 23 | 1280, 1536, 1792, 2048 | 256 (last class of `SmallPagesConfig`) |
/// | 24 ... 35 | 2560 ... 16384, four per doubling | size/4 (last class of `MediumPagesConfig`) |
///
/// Waste bound: a request of `s` bytes gets a class of `c` bytes with `c - s < 16` for
/// `s <= 128`, and `c - s < s / 4` above (four classes per doubling: in `(2^k, 2^(k+1)]` the
/// step is `2^k / 4`). So internal fragmentation is below 15 bytes or below 25% of the request,
/// whichever is larger. Every class size is a multiple of 16, so every object is 16-byte aligned
/// (in a page of its own class a power-of-two class is naturally aligned, but cold-start
/// pages only guarantee 16). A page holds
/// `pageSize / c` objects; the configs cap objects at 1/8 of a page, so the unused tail of a page is
/// smaller than one object and at most 1/9 of the page.
///
/// Thread-safety: pure functions.
public enum SizeClasses {
    /// Smallest object size and alignment of every class.
    public static let minAlign = 16
    /// log2(minAlign).
    public static let minAlignShift = 4

    /// Bytes of class `index`.
    @inlinable
    public static func size(ofClass index: Int) -> Int {
        if index < 8 { return (index + 1) * 16 }
        let group = (index - 8) / 4
        let step = (index - 8) % 4
        let base = 128 << group
        return base + (step + 1) * (base / 4)
    }

    /// The smallest class whose size is at least `size` (which must be at least 1).
    @inlinable
    public static func classIndex(forSize size: Int) -> Int {
        precondition(size >= 1, "class of a non-positive size")
        if size <= 128 { return (size - 1) / 16 }
        let group = (Int.bitWidth - 1 - (size - 1).leadingZeroBitCount) - 7
        let base = 128 << group
        let step = base / 4
        return 8 + group * 4 + (size - base - 1) / step
    }

    /// Number of classes whose size is at most `maxObjectSize`.
    @inlinable
    public static func classCount(upTo maxObjectSize: Int) -> Int {
        maxObjectSize < 16
            ? 0
            : classIndex(forSize: maxObjectSize) + (size(ofClass: classIndex(forSize: maxObjectSize)) == maxObjectSize ? 1 : 0)
    }
}
