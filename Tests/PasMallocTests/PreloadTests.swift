import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs real programs and C test programs with libpasmalloc.so preloaded.
///
/// The library is linked by the test itself from the objects `swift test` already compiled
/// (PasMalloc, Pas, PasSystem, CPasShim: every target is built for the tests), with `swiftc
/// -emit-library`, into `<build dir>/pasmalloc-tests/`. The test target does not depend on
/// PasMalloc: linking it into the test executable would replace malloc for every test.
enum Preload {
    static let packageRoot: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/PasMallocTests/PreloadTests.swift
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
            "$SWIFTC" -emit-library -o '\(out).tmp' $objs "$B/CPasShim.build/shim.c.o" "$B/CPasMallocExports.build/exports.c.o" > '\(workDirectory)/link.log' 2>&1
            mv '\(out).tmp' '\(out)'
            """
        return (out, shell(script))
    }()

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

    /// Runs `command` in `dir` without and with the library preloaded; returns both exit
    /// statuses and whether stdout matched byte for byte (`cmp`).
    static func compare(_ command: String, in dir: String) -> (plain: Int32, preloaded: Int32, same: Bool) {
        let plain = shell("cd '\(dir)' && { \(command); } > plain.out 2> plain.err")
        let preloaded = shell("cd '\(dir)' && { LD_PRELOAD='\(library.path)' \(command); } > pre.out 2> pre.err")
        let same = shell("cmp -s '\(dir)/plain.out' '\(dir)/pre.out'") == 0
        return (plain, preloaded, same)
    }
}

@Suite(.serialized) struct PreloadTests {
    @Test func libraryLinksAndIsUsedByPreloadedPrograms() throws {
        try #require(Preload.library.status == 0, "link failed: \(Preload.read(Preload.workDirectory + "/link.log"))")
        let dir = Preload.directory("maps")
        Preload.shell("LD_PRELOAD='\(Preload.library.path)' cat /proc/self/maps > '\(dir)/maps'")
        #expect(Preload.read(dir + "/maps").contains("libpasmalloc.so"))
        #expect(Preload.shell("nm -D --defined-only '\(Preload.library.path)' | grep -qw pas_scavenge") == 0)
    }

    @Test func lsRecursiveMatches() throws {
        try #require(Preload.library.status == 0)
        let r = Preload.compare("ls -R /usr/share", in: Preload.directory("ls"))
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r)")
    }

    @Test func sortOfALargeFileMatches() throws {
        try #require(Preload.library.status == 0)
        let dir = Preload.directory("sort")
        Preload.shell("awk 'BEGIN { srand(42); for (i = 0; i < 300000; i++) printf \"%d line %x\\n\", int(rand() * 1e9), i }' > '\(dir)/big.txt'")
        let r = Preload.compare("sort big.txt", in: dir)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r)")
    }

    @Test func pythonBuildingAndDroppingDictsMatches() throws {
        try #require(Preload.library.status == 0)
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
        let dir = Preload.directory("python")
        Preload.shell("cat > '\(dir)/dicts.py' <<'PYEOF'\n\(script)\nPYEOF")
        let r = Preload.compare("python3 dicts.py", in: dir)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r) \(Preload.read(dir + "/pre.err"))")
    }

    @Test func ccCompilingASmallFileMatches() throws {
        try #require(Preload.library.status == 0)
        let dir = Preload.directory("cc")
        Preload.shell("""
            cat > '\(dir)/small.c' <<'CEOF'
            #include <stdio.h>
            struct point { int x, y; };
            static int square(int v) { return v * v; }
            int main(void) { struct point p = { 3, 4 }; printf("%d\\n", square(p.x) + square(p.y)); return 0; }
            CEOF
            """)
        let r = Preload.compare("cc -O2 -c small.c -o small.o && od -An -tx1 small.o", in: dir)
        #expect(r.plain == 0 && r.preloaded == 0 && r.same, "\(r) \(Preload.read(dir + "/pre.err"))")
    }

    /// Compiles one of the C programs in Programs/ (without the library; -O0 -fno-builtin so that the
    /// compiler keeps every malloc/free pair) and runs it preloaded;
    /// the program prints "ok" when all its checks pass.
    func runProgram(_ name: String, flags: String) throws {
        try #require(Preload.library.status == 0)
        let dir = Preload.directory(name)
        let source = Preload.packageRoot + "/Tests/PasMallocTests/Programs/\(name).c"
        let built = Preload.shell("cc -O0 -fno-builtin -w \(flags) -o '\(dir)/\(name)' '\(source)' -ldl > '\(dir)/cc.log' 2>&1")
        try #require(built == 0, "cc failed: \(Preload.read(dir + "/cc.log"))")
        let status = Preload.shell("cd '\(dir)' && LD_PRELOAD='\(Preload.library.path)' timeout 120 ./\(name) > out 2> err")
        let output = Preload.read(dir + "/out")
        #expect(status == 0 && output == "ok\n", "status \(status): \(output) \(Preload.read(dir + "/err"))")
    }

    @Test func threadsWithCrossThreadFreesShortLivedThreadsAndFork() throws {
        try runProgram("threads", flags: "-pthread")
    }

    /// fork() while another thread loops malloc_trim / pas_scavenge / pas_malloc_verify: each of
    /// 40 children must malloc, free and exit (a deadlocked child is killed after 10 s).
    @Test func forkDuringMaintenanceCalls() throws {
        try runProgram("forktrim", flags: "-pthread")
    }

    @Test func badInputThroughTheMallocAPI() throws {
        try runProgram("badinput", flags: "")
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
        let status = Preload.shell("""
            cd '\(dir)' && timeout 120 sh -c 'ulimit -v 4000000; LD_PRELOAD=\(Preload.library.path) ./addresslimit' > out 2> err
            """)
        let output = Preload.read(dir + "/out")
        let errors = Preload.read(dir + "/err")
        #expect(status == 0 && output == "ok\n", "status \(status): \(output) \(errors)")
        let notes = errors.split(separator: "\n").filter { $0.hasPrefix("pasmalloc: address space") }
        #expect(notes.count == 1, "stderr: \(errors)")
    }
}
