import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs real programs and C test programs with libpasmalloc.so preloaded.
///
/// The library is linked by the test itself from the objects `swift test` already compiled
/// (PasMalloc, CPasMalloc, Pas, PasSystem, CPasShim: every target is built for the tests),
/// with `swiftc -emit-library`, into `<build dir>/pasmalloc-tests/`. The test target does not depend on
/// PasMalloc: linking it into the test executable would replace malloc for every test.
/// Every test runs against that debug library and against the release library, which the
/// test builds with `swift build -c release --product pasmalloc` into its own scratch path
/// (`releaseLibrary`; about 40 s on 2 cores the first time). The comparison tests also
/// preload probe.so, which reads Pas's own counters (`pas_malloc_statistics`) as each process
/// exits: matching output alone would pass if interposition had failed.
enum Preload {
    static let packageRoot: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3) // Tests/PasMallocTests/PreloadTests.swift
        return parts.joined(separator: "/")
    }()

    /// The directory of the test executable (the build directory, e.g. .build/<triple>/debug).
    static let buildDirectory: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let path = String(decoding: buffer[0 ..< max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
    }()

    static let workDirectory = buildDirectory + "/pasmalloc-tests"

    /// Path of the linked library, or the failed command's status.
    static let library: (path: String, status: Int32) = {
        let out = workDirectory + "/libpasmalloc.so"
        let script = """
            set -e; mkdir -p '\(workDirectory)'; B='\(buildDirectory)'; R='\(packageRoot)'; objs=""
            for t in PasMalloc Pas PasSystem; do
              for f in $(find "$R/Sources/$t" -name '*.swift'); do objs="$objs $B/$t.build/$(basename "$f").o"; done
            done
            SWIFTC=$(command -v swiftc || echo "$(dirname "$(readlink -f "$(command -v swift)")")/swiftc")
            "$SWIFTC" -emit-library -o '\(out).tmp' $objs "$B/CPasShim.build/shim.c.o" "$B"/CPasMalloc.build/*.c.o > '\(workDirectory)/link.log' 2>&1
            mv '\(out).tmp' '\(out)'
            """
        return (out, shell(script))
    }()

    /// The release library: `swift build -c release --product pasmalloc` into its own scratch
    /// path (`.build-pasmalloc-release` in the package root, git-ignored), so that the
    /// optimised code paths — the ones users preload — are tested too. Incremental: a second
    /// run only relinks what changed. Path of the library, or the build's status.
    static let releaseLibrary: (path: String, status: Int32) = {
        let scratch = packageRoot + "/.build-pasmalloc-release"
        let script = """
            set -e; mkdir -p '\(workDirectory)'
            SWIFT=$(command -v swift || echo "$(dirname "$(readlink -f "$(command -v swiftc)")")/swift")
            cd '\(packageRoot)' && "$SWIFT" build -c release --product pasmalloc --scratch-path '\(scratch)' -j 2 > '\(workDirectory)/release-build.log' 2>&1
            """
        let status = shell(script)
        // The real path (`release` is a symlink to the triple's directory): the one the dynamic
        // loader reports in /proc/self/maps and dladdr.
        let path = scratch + "/release/libpasmalloc.so"
        guard status == 0, let resolved = realpath(path, nil) else { return (path, status) }
        defer { free(resolved) }
        return (String(cString: resolved), status)
    }()

    /// Which build of the library a test preloads.
    enum Build: String, CaseIterable, CustomStringConvertible, Sendable {
        case debug, release
        var description: String { rawValue }
        /// The library's path; fails the test if it could not be built.
        func library() throws -> String {
            switch self {
            case .debug:
                try #require(Preload.library.status == 0, "link failed: \(Preload.read(Preload.workDirectory + "/link.log"))")
                return Preload.library.path
            case .release:
                try #require(
                    Preload.releaseLibrary.status == 0,
                    "release build failed: \(Preload.read(Preload.workDirectory + "/release-build.log"))")
                return Preload.releaseLibrary.path
            }
        }
    }

    /// probe.so (Programs/probe.c): preloaded after the library, it appends what Pas counted
    /// to $PAS_PROBE_OUT when each preloaded process exits.
    static let probe: (path: String, status: Int32) = {
        let out = workDirectory + "/probe.so"
        let source = packageRoot + "/Tests/PasMallocTests/Programs/probe.c"
        let status = shell(
            "mkdir -p '\(workDirectory)' && cc -shared -fPIC -O1 -Wall -o '\(out)' '\(source)' -ldl > '\(workDirectory)/probe.log' 2>&1"
        )
        return (out, status)
    }()

    /// One process's line from probe.so.
    struct ProbeLine: CustomStringConvertible {
        var values = 0, live = 0, segregated = 0, bitfit = 0, large = 0, committed = 0, ignored = 0
        var malloc = ""
        var description: String {
            "values \(values) live \(live) objects \(segregated)/\(bitfit)/\(large) committed \(committed) malloc \(malloc)"
        }
        init(_ line: Substring) {
            let words = line.split(separator: " ").map(String.init)
            func number(_ key: String) -> Int {
                words.firstIndex(of: key).flatMap { $0 + 1 < words.count ? Int(words[$0 + 1]) : nil } ?? -1
            }
            values = number("values"); live = number("live"); segregated = number("segregated")
            bitfit = number("bitfit"); large = number("large"); committed = number("committed"); ignored = number("ignored")
            malloc = words.firstIndex(of: "malloc").flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil } ?? ""
        }
    }

    static func probeLines(in dir: String) -> [ProbeLine] {
        read(dir + "/probe.txt").split(separator: "\n").filter { $0.hasPrefix("probe ") }.map(ProbeLine.init)
    }

    /// Runs `script` with /bin/sh; returns its exit status.
    @discardableResult
    static func shell(_ script: String) -> Int32 {
        let status = system(script)
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// Reads a whole (small) file.
    static func read(_ path: String) -> String {
        guard let f = fopen(path, "r") else { return "" }
        defer { fclose(f) }
        var result = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            result.append(contentsOf: chunk[0 ..< n])
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// A fresh directory for one test.
    static func directory(_ name: String) -> String {
        let dir = workDirectory + "/" + name
        shell("rm -rf '\(dir)' && mkdir -p '\(dir)'")
        return dir
    }

    /// Runs `command` in `dir` without and with `library` (and probe.so) preloaded — every
    /// command of it, in a subshell — returns both exit statuses, whether stdout matched byte
    /// for byte (`cmp`), and the probe's line for each preloaded process.
    static func compare(_ command: String, in dir: String, library: String) throws
        -> (plain: Int32, preloaded: Int32, same: Bool, probes: [ProbeLine])
    {
        try #require(probe.status == 0, "probe.so: \(read(workDirectory + "/probe.log"))")
        let plain = shell("cd '\(dir)' && { \(command); } > plain.out 2> plain.err")
        let preloaded = shell(
            """
            cd '\(dir)' && rm -f probe.txt && ( export LD_PRELOAD='\(library) \(probe.path)' PAS_PROBE_OUT='\(dir)/probe.txt'; \(command) ) > pre.out 2> pre.err
            """)
        let same = shell("cmp -s '\(dir)/plain.out' '\(dir)/pre.out'") == 0
        return (plain, preloaded, same, probeLines(in: dir))
    }

    /// Checks that Pas served the preloaded run: every process resolved malloc to the library
    /// and reported Pas's counters, and the busiest one holds at least `minimumCommitted`
    /// bytes of committed heap memory and some live objects at exit.
    static func expectServedByPas(
        _ probes: [ProbeLine], library: String, minimumCommitted: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(!probes.isEmpty, "no probe line: probe.so did not run", sourceLocation: sourceLocation)
        for p in probes {
            #expect(p.values == 6 && p.malloc == library, "a process not served by Pas: \(p)", sourceLocation: sourceLocation)
        }
        let busiest = probes.max { $0.committed < $1.committed }
        #expect(
            (busiest?.committed ?? 0) >= minimumCommitted
                && (busiest?.segregated ?? 0) + (busiest?.bitfit ?? 0) + (busiest?.large ?? 0) > 0,
            "Pas committed too little to have served the program: \(busiest.map(String.init(describing:)) ?? "none"), expected at least \(minimumCommitted) bytes",
            sourceLocation: sourceLocation)
    }
}

@Suite(.serialized) struct PreloadTests {
    @Test(arguments: Preload.Build.allCases)
    func libraryLinksAndIsUsedByPreloadedPrograms(build: Preload.Build) throws {
        let library = try build.library()
        let dir = Preload.directory("maps-\(build)")
        Preload.shell("LD_PRELOAD='\(library)' cat /proc/self/maps > '\(dir)/maps'")
        #expect(Preload.read(dir + "/maps").contains(library))
        #expect(Preload.shell("nm -D --defined-only '\(library)' | grep -qw pas_malloc_statistics") == 0)
    }

    /// A program that allocates almost nothing: Pas's counters at exit are the baseline the
    /// comparison tests' minimums are well above.
    @Test(arguments: Preload.Build.allCases)
    func probeSeesAnIdleProgram(build: Preload.Build) throws {
        let library = try build.library()
        let r = try Preload.compare("/bin/true", in: Preload.directory("idle-\(build)"), library: library)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r)")
        #expect(r.probes.count == 1 && r.probes.allSatisfy { $0.values == 6 && $0.malloc == library }, "\(r.probes)")
        print("idle program under \(build) libpasmalloc.so: \(r.probes)")
    }

    @Test(arguments: Preload.Build.allCases)
    func lsRecursiveMatches(build: Preload.Build) throws {
        let library = try build.library()
        let r = try Preload.compare("ls -R /usr/share", in: Preload.directory("ls-\(build)"), library: library)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r)")
        // ls -R keeps every directory's entries: about 17 MiB committed at exit.
        Preload.expectServedByPas(r.probes, library: library, minimumCommitted: 4 << 20)
    }

    @Test(arguments: Preload.Build.allCases)
    func sortOfALargeFileMatches(build: Preload.Build) throws {
        let library = try build.library()
        let dir = Preload.directory("sort-\(build)")
        Preload.shell(
            "awk 'BEGIN { srand(42); for (i = 0; i < 300000; i++) printf \"%d line %x\\n\", int(rand() * 1e9), i }' > '\(dir)/big.txt'"
        )
        let r = try Preload.compare("sort big.txt", in: dir, library: library)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r)")
        // The file is about 6 MiB; sort reads it into a buffer sized from physical memory
        // (hundreds of MiB committed at exit, against about 200 KiB for an idle program).
        Preload.expectServedByPas(r.probes, library: library, minimumCommitted: 64 << 20)
    }

    @Test(arguments: Preload.Build.allCases)
    func pythonBuildingAndDroppingDictsMatches(build: Preload.Build) throws {
        let library = try build.library()
        let script = """
            import sys
            total = 0
            for round in range(6):
                d = {i: str(i) * (i % 7 + 1) for i in range(100000)}
                l = [bytes(i % 5000) for i in range(2000)]
                total += sum(len(v) for v in d.values()) + sum(len(b) for b in l)
                del d, l
            print(total)
            """
        let dir = Preload.directory("python-\(build)")
        Preload.shell("cat > '\(dir)/dicts.py' <<'PYEOF'\n\(script)\nPYEOF")
        let r = try Preload.compare("python3 dicts.py", in: dir, library: library)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r) \(Preload.read(dir + "/pre.err"))")
        // The interpreter's dicts: about 19 MiB committed at exit.
        Preload.expectServedByPas(r.probes, library: library, minimumCommitted: 4 << 20)
    }

    @Test(arguments: Preload.Build.allCases)
    func ccCompilingASmallFileMatches(build: Preload.Build) throws {
        let library = try build.library()
        let dir = Preload.directory("cc-\(build)")
        Preload.shell(
            """
            cat > '\(dir)/small.c' <<'CEOF'
            #include <stdio.h>
            struct point { int x, y; };
            static int square(int v) { return v * v; }
            int main(void) { struct point p = { 3, 4 }; printf("%d\\n", square(p.x) + square(p.y)); return 0; }
            CEOF
            """)
        let r = try Preload.compare("cc -O2 -c small.c -o small.o && od -An -tx1 small.o", in: dir, library: library)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r) \(Preload.read(dir + "/pre.err"))")
        // cc1 builds the translation unit's trees in heap memory: about 6 MiB committed at exit.
        Preload.expectServedByPas(r.probes, library: library, minimumCommitted: 2 << 20)
    }

    /// Compiles one of the C programs in Programs/ (without the library; -O0 -fno-builtin so that the
    /// compiler keeps every malloc/free pair) and runs it preloaded;
    /// the program prints "ok" when all its checks pass.
    func runProgram(_ name: String, flags: String, build: Preload.Build) throws {
        let library = try build.library()
        let dir = Preload.directory("\(name)-\(build)")
        let source = Preload.packageRoot + "/Tests/PasMallocTests/Programs/\(name).c"
        let built = Preload.shell("cc -O0 -fno-builtin -w \(flags) -o '\(dir)/\(name)' '\(source)' -ldl > '\(dir)/cc.log' 2>&1")
        try #require(built == 0, "cc failed: \(Preload.read(dir + "/cc.log"))")
        let status = Preload.shell("cd '\(dir)' && LD_PRELOAD='\(library)' timeout 120 ./\(name) > out 2> err")
        let output = Preload.read(dir + "/out")
        #expect(status == 0 && output == "ok\n", "status \(status): \(output) \(Preload.read(dir + "/err"))")
    }

    @Test(arguments: Preload.Build.allCases)
    func threadsWithCrossThreadFreesShortLivedThreadsAndFork(build: Preload.Build) throws {
        try runProgram("threads", flags: "-pthread", build: build)
    }

    /// fork() while another thread loops malloc_trim / pas_scavenge / pas_malloc_verify: each of
    /// 40 children must malloc, free and exit (a deadlocked child is killed after 10 s).
    @Test(arguments: Preload.Build.allCases)
    func forkDuringMaintenanceCalls(build: Preload.Build) throws {
        try runProgram("forktrim", flags: "-pthread", build: build)
    }

    @Test(arguments: Preload.Build.allCases)
    func badInputThroughTheMallocAPI(build: Preload.Build) throws {
        try runProgram("badinput", flags: "", build: build)
    }

    /// Under `ulimit -v 4000000` the 1 TiB cage cannot be reserved: the library takes the
    /// largest cage the limit leaves room for, says so once on stderr, and a program can
    /// still keep 2 GiB live and churn 1 GiB (as with glibc).
    @Test func addressSpaceLimitShrinksTheCage() throws {
        try #require(Preload.library.status == 0)
        let dir = Preload.directory("addresslimit")
        let source = Preload.packageRoot + "/Tests/PasMallocTests/Programs/addresslimit.c"
        let built = Preload.shell("cc -O1 -fno-builtin -w -o '\(dir)/addresslimit' '\(source)' > '\(dir)/cc.log' 2>&1")
        try #require(built == 0, "cc failed: \(Preload.read(dir + "/cc.log"))")
        let status = Preload.shell(
            """
            cd '\(dir)' && timeout 120 sh -c 'ulimit -v 4000000; LD_PRELOAD=\(Preload.library.path) ./addresslimit' > out 2> err
            """)
        let output = Preload.read(dir + "/out")
        let errors = Preload.read(dir + "/err")
        #expect(status == 0 && output == "ok\n", "status \(status): \(output) \(errors)")
        let notes = errors.split(separator: "\n").filter { $0.hasPrefix("pasmalloc: address space") }
        #expect(notes.count == 1, "stderr: \(errors)")
    }
}
