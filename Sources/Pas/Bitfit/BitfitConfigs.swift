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
    public static var pageSize: Int { 16 << 10 }
    public static var granule: Int { 16 }
    public static var maxObjectSize: Int { 2 << 10 }
    public static var headerPlacement: BitfitHeaderPlacement { .inline }
    public static var pagesPerChunk: Int { 16 }
}

/// Medium general objects (up to 20 KiB) in 128 KiB pages, headers out of line.
public enum MediumBitfitConfig: BitfitConfig {
    public static var pageSize: Int { 128 << 10 }
    public static var granule: Int { 256 }
    public static var maxObjectSize: Int { 20 << 10 }
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    public static var pagesPerChunk: Int { 8 }
}

/// "Medium-large" objects (up to 640 KiB) in 4 MiB pages with 4 KiB granules, headers out of line.
public enum MargeBitfitConfig: BitfitConfig {
    public static var pageSize: Int { 4 << 20 }
    public static var granule: Int { 4 << 10 }
    public static var maxObjectSize: Int { 640 << 10 }
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    public static var pagesPerChunk: Int { 1 }
    public static var maxHeapBytes: Int { 256 << 30 }
}

/// Small code blocks (up to 2 KiB, 16-byte aligned) for the JIT heap. Headers out of line:
/// the allocator never touches code memory.
public enum JITSmallBitfitConfig: BitfitConfig {
    public static var pageSize: Int { 16 << 10 }
    public static var granule: Int { 16 }
    public static var maxObjectSize: Int { 2 << 10 }
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    public static var pagesPerChunk: Int { 16 }
}

/// Medium code blocks (up to 64 KiB, 256-byte aligned) for the JIT heap, in 256 KiB pages.
/// Headers out of line.
public enum JITMediumBitfitConfig: BitfitConfig {
    public static var pageSize: Int { 256 << 10 }
    public static var granule: Int { 256 }
    public static var maxObjectSize: Int { 64 << 10 }
    public static var headerPlacement: BitfitHeaderPlacement { .outOfLine }
    public static var pagesPerChunk: Int { 4 }
}
