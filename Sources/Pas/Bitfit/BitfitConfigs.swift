/// Bitfit configs for general objects and for code.
///
/// | config | page | granule | largest object | header | chunk |
/// | --- | --- | --- | --- | --- | --- |
/// | `SmallBitfitConfig` | 16 KiB | 16 B | 2 KiB | inline (256 B) | 16 pages |
/// | `MediumBitfitConfig` | 128 KiB | 256 B | 20 KiB | out of line | 8 pages |
/// | `MargeBitfitConfig` | 4 MiB | 4 KiB | 640 KiB | out of line | 1 page |
/// | `JITSmallBitfitConfig` | 16 KiB | 16 B | 2 KiB | out of line | 16 pages |
/// | `JITMediumBitfitConfig` | 256 KiB | 256 B | 64 KiB | out of line | 4 pages |
///
/// Every page has at most 1024 granules, so a header is two 128-byte bitmaps and a first-fit
/// scan reads at most 16 words per bitmap. The largest object is about a sixth of a page or
/// less, so a page holds several of them and fragmentation stays bounded.

/// Small general objects (up to 2 KiB) in 16 KiB pages with the header at the page start.
public enum SmallBitfitConfig: BitfitConfig {
    /// Bytes per page: `16 << 10`. A compile-time constant.
    public static var pageSize: Int { 16 << 10 }
    /// Allocation granule in bytes (sizes and alignments round to it): `16`. A constant.
    public static var granule: Int { 16 }
    /// Largest object served, in bytes: `2 << 10`. A compile-time constant.
    public static var maxObjectSize: Int { 2 << 10 }
    /// Where page headers live: `.inline`. A compile-time constant.
    public static var headerPlacement: BitfitHeaderPlacement { .inline }
    /// Pages drawn from the chunk source at a time: `16`. A compile-time constant.
    public static var pagesPerChunk: Int { 16 }
}

/// Medium general objects (up to 20 KiB) in 128 KiB pages, headers out of line.
public enum MediumBitfitConfig: BitfitConfig {
    /// Bytes per page: `128 << 10`. A compile-time constant.
    public static var pageSize: Int { 128 << 10 }
    /// Allocation granule in bytes (sizes and alignments round to it): `256`. A constant.
    public static var granule: Int { 256 }
    /// Largest object served, in bytes: `20 << 10`. A compile-time constant.
    public static var maxObjectSize: Int { 20 << 10 }
    /// Where page headers live: `.outOfLine`. A compile-time constant.
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    /// Pages drawn from the chunk source at a time: `8`. A compile-time constant.
    public static var pagesPerChunk: Int { 8 }
}

/// "Medium-large" objects (up to 640 KiB) in 4 MiB pages with 4 KiB granules, headers out of line.
public enum MargeBitfitConfig: BitfitConfig {
    /// Bytes per page: `4 << 20`. A compile-time constant.
    public static var pageSize: Int { 4 << 20 }
    /// Allocation granule in bytes (sizes and alignments round to it): `4 << 10`. A constant.
    public static var granule: Int { 4 << 10 }
    /// Largest object served, in bytes: `640 << 10`. A compile-time constant.
    public static var maxObjectSize: Int { 640 << 10 }
    /// Where page headers live: `.outOfLine`. A compile-time constant.
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    /// Pages drawn from the chunk source at a time: `1`. A compile-time constant.
    public static var pagesPerChunk: Int { 1 }
    /// Largest total of chunk memory the page map covers, in bytes: `256 << 30`. A compile-time constant.
    public static var maxHeapBytes: Int { 256 << 30 }
}

/// Small code blocks (up to 2 KiB, 16-byte aligned) for the JIT heap. Headers out of line:
/// the allocator never touches code memory.
public enum JITSmallBitfitConfig: BitfitConfig {
    /// Bytes per page: `16 << 10`. A compile-time constant.
    public static var pageSize: Int { 16 << 10 }
    /// Allocation granule in bytes (sizes and alignments round to it): `16`. A constant.
    public static var granule: Int { 16 }
    /// Largest object served, in bytes: `2 << 10`. A compile-time constant.
    public static var maxObjectSize: Int { 2 << 10 }
    /// Where page headers live: `.outOfLine`. A compile-time constant.
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    /// Pages drawn from the chunk source at a time: `16`. A compile-time constant.
    public static var pagesPerChunk: Int { 16 }
}

/// Medium code blocks (up to 64 KiB, 256-byte aligned) for the JIT heap, in 256 KiB pages.
/// Headers out of line.
public enum JITMediumBitfitConfig: BitfitConfig {
    /// Bytes per page: `256 << 10`. A compile-time constant.
    public static var pageSize: Int { 256 << 10 }
    /// Allocation granule in bytes (sizes and alignments round to it): `256`. A constant.
    public static var granule: Int { 256 }
    /// Largest object served, in bytes: `64 << 10`. A compile-time constant.
    public static var maxObjectSize: Int { 64 << 10 }
    /// Where page headers live: `.outOfLine`. A compile-time constant.
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    /// Pages drawn from the chunk source at a time: `4`. A compile-time constant.
    public static var pagesPerChunk: Int { 4 }
}
