import Pas
import PasSystem
#if canImport(Glibc)
import Glibc
#endif

// object-heaps: a runtime-like object graph allocated through the toolkit. Tree nodes and
// list cells live in isoheaps (one heap per type, never reusing one type's memory for
// another); their names live in a general segregated heap. The graph is churned, then most of
// it is dropped, and the heaps' statistics are printed before and after scavenging.

/// A binary-search-tree node with a name stored in the general heap.
struct TreeNode {
    var key: Int
    var left: UnsafeMutablePointer<TreeNode>?
    var right: UnsafeMutablePointer<TreeNode>?
    var name: UnsafeMutableRawPointer
    var nameLength: Int
    var items: UnsafeMutablePointer<ListCell>?
}

/// A cell of the short list hanging from each tree node.
struct ListCell {
    var value: Int
    var next: UnsafeMutablePointer<ListCell>?
}

typealias Names = SegregatedHeap<SmallPagesConfig, ReservationChunkSource<SystemPageSource>>

/// The graph and the heaps it lives in. Single-threaded, like a mutator between collections.
final class Graph {
    let nodes: SystemIsoHeap<TreeNode>
    let cells: SystemIsoHeap<ListCell>
    let names: Names
    var root: UnsafeMutablePointer<TreeNode>? = nil
    var count = 0
    var rng: UInt64 = 0x0B1E_C75

    init() throws(PasError) {
        nodes = try SystemIsoHeap<TreeNode>()
        cells = try SystemIsoHeap<ListCell>()
        names = try Names()
    }

    func random() -> UInt64 {
        rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27
        return rng &* 2_685_821_657_736_338_717
    }

    /// Inserts `key` (if absent) with a fresh name and a list of 0..7 cells.
    func insert(_ key: Int) throws(PasError) {
        var link = withUnsafeMutablePointer(to: &root) { $0 }
        while let n = link.pointee {
            if n.pointee.key == key { return }
            link =
                key < n.pointee.key
                ? withUnsafeMutablePointer(to: &n.pointee.left) { $0 } : withUnsafeMutablePointer(to: &n.pointee.right) { $0 }
        }
        let length = 8 + Int(random() % 120)
        let name = try names.allocate(size: length)
        memset(name, Int32(0x61 + key % 26), length)
        var items: UnsafeMutablePointer<ListCell>? = nil
        for i in 0 ..< Int(random() % 8) { items = try cells.create(ListCell(value: key * 8 + i, next: items)) }
        link.pointee = try nodes.create(TreeNode(key: key, left: nil, right: nil, name: name, nameLength: length, items: items))
        count += 1
    }

    /// Removes `key` if present, freeing its node, name and cells.
    func remove(_ key: Int) throws(PasError) {
        var link = withUnsafeMutablePointer(to: &root) { $0 }
        while let n = link.pointee, n.pointee.key != key {
            link =
                key < n.pointee.key
                ? withUnsafeMutablePointer(to: &n.pointee.left) { $0 } : withUnsafeMutablePointer(to: &n.pointee.right) { $0 }
        }
        guard let n = link.pointee else { return }
        if let l = n.pointee.left, let r = n.pointee.right {
            // Replace with the in-order successor (leftmost of the right subtree).
            var sLink = withUnsafeMutablePointer(to: &n.pointee.right) { $0 }
            while let s = sLink.pointee, s.pointee.left != nil { sLink = withUnsafeMutablePointer(to: &s.pointee.left) { $0 } }
            let s = sLink.pointee!
            sLink.pointee = s.pointee.right
            s.pointee.left = l
            s.pointee.right = sLink == withUnsafeMutablePointer(to: &n.pointee.right) { $0 } ? n.pointee.right : r
            link.pointee = s
        } else {
            link.pointee = n.pointee.left ?? n.pointee.right
        }
        try release(n)
        count -= 1
    }

    func release(_ n: UnsafeMutablePointer<TreeNode>) throws(PasError) {
        try names.deallocate(n.pointee.name)
        var c = n.pointee.items
        while let cell = c { c = cell.pointee.next; try cells.destroy(cell) }
        try nodes.destroy(n)
    }

    /// Checks the tree's order and that every name still holds its bytes.
    func check() -> Bool {
        var stack: [(UnsafeMutablePointer<TreeNode>, Int, Int)] = []
        if let root { stack.append((root, Int.min, Int.max)) }
        var seen = 0
        while let (n, lo, hi) = stack.popLast() {
            let k = n.pointee.key
            guard k > lo, k < hi else { return false }
            let bytes = n.pointee.name.assumingMemoryBound(to: UInt8.self)
            guard bytes[0] == UInt8(0x61 + k % 26), bytes[n.pointee.nameLength - 1] == bytes[0] else { return false }
            seen += 1
            if let l = n.pointee.left { stack.append((l, lo, k)) }
            if let r = n.pointee.right { stack.append((r, k, hi)) }
        }
        return seen == count
    }

    func report(_ title: String) {
        func line(_ name: String, _ s: SegregatedHeapStatistics) -> String {
            let pad = name + String(repeating: " ", count: max(0, 10 - name.count))
            return
                "  \(pad) \(s.objectsInUse) objects, \(s.bytesInUse >> 10) KiB in use, \(s.committedPageBytes >> 10) KiB committed, \(s.decommittedPages) pages decommitted"
        }
        print(title)
        print(line("nodes", nodes.statistics))
        print(line("cells", cells.statistics))
        print(line("names", names.statistics))
        print("  process RSS \(SystemInfo.residentBytes() >> 20) MiB")
    }
}

@main
enum ObjectHeapsExample {
    static func main() {
        let arguments = CommandLine.arguments
        let size = arguments.count > 1 ? Int(arguments[1]) ?? 200_000 : 200_000
        do {
            let graph = try Graph()
            for _ in 0 ..< size { try graph.insert(Int(graph.random() % UInt64(size * 4))) }
            for _ in 0 ..< size * 2 {
                try graph.remove(Int(graph.random() % UInt64(size * 4)))
                try graph.insert(Int(graph.random() % UInt64(size * 4)))
            }
            print(
                "object-heaps: \(graph.count) tree nodes after \(size * 2) removals and insertions; graph intact: \(graph.check())"
            )
            graph.report("after churn:")
            // Random frees leave most pages partly used: nothing to give back yet.
            var keys: [Int] = []
            var stack = graph.root.map { [$0] } ?? []
            while let n = stack.popLast() {
                keys.append(n.pointee.key)
                if let l = n.pointee.left { stack.append(l) }
                if let r = n.pointee.right { stack.append(r) }
            }
            for k in keys.prefix(keys.count / 2) { try graph.remove(k) }
            graph.names.flushThreadCache(); graph.nodes.flushThreadCache(); graph.cells.flushThreadCache()
            var returned =
                try graph.nodes.decommitEmptyPages() + graph.cells.decommitEmptyPages() + graph.names.decommitEmptyPages()
            graph.report(
                "after dropping a random half and scavenging (\(returned >> 10) KiB returned: pages are still partly used):")
            // A phase change: the old graph goes away and a small new one is built.
            for k in keys.suffix(keys.count - keys.count / 2) { try graph.remove(k) }
            for _ in 0 ..< size / 10 { try graph.insert(Int(graph.random() % UInt64(size * 4))) }
            graph.names.flushThreadCache(); graph.nodes.flushThreadCache(); graph.cells.flushThreadCache()
            graph.report("after a phase change (old graph dropped, a graph a tenth the size built):")
            returned = try graph.nodes.decommitEmptyPages() + graph.cells.decommitEmptyPages() + graph.names.decommitEmptyPages()
            graph.report("after scavenging (\(returned >> 10) KiB returned):")
            print("graph intact: \(graph.check())")
            try graph.nodes.verify(); try graph.cells.verify(); try graph.names.verify()
            print("all heaps verified")
        } catch {
            print("error: \(error)")
            exit(1)
        }
    }
}
