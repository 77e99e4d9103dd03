import Foundation

/// Medians, ratios and the Markdown / SVG output.
struct Report {
    var results: [RunResult]
    var pasNames = ["pas", "pas-preload"]

    struct Cell {
        var median: Double
        var min: Double
        var max: Double
        var rss: Double
    }

    var workloads: [String] {
        var seen: [String] = []
        for r in results where !seen.contains(r.workload) { seen.append(r.workload) }
        return seen
    }

    func allocators(of workload: String) -> [String] {
        var seen: [String] = []
        for r in results where r.workload == workload && !seen.contains(r.allocator) { seen.append(r.allocator) }
        return seen
    }

    func cell(_ workload: String, _ allocator: String) -> Cell? {
        let rs = results.filter { $0.workload == workload && $0.allocator == allocator }
        guard !rs.isEmpty else { return nil }
        let t = rs.map(\.nsPerOp).sorted()
        let m = rs.map(\.peakRSSMiB).sorted()
        return Cell(median: t[t.count / 2], min: t.first!, max: t.last!, rss: m[m.count / 2])
    }

    /// Ratio of Pas to `peer` (< 1: Pas is faster), per workload.
    /// The Pas variant measured in a workload (in-process API, or the preloaded library).
    func pasName(in workload: String) -> String {
        pasNames.first { cell(workload, $0) != nil } ?? "pas"
    }

    func ratio(_ workload: String, to peer: String) -> Double? {
        guard let p = cell(workload, pasName(in: workload)), let q = cell(workload, peer), q.median > 0 else { return nil }
        return p.median / q.median
    }

    func markdown() -> String {
        var out = "| workload | allocator | ns/op median | min–max | peak RSS MiB | Pas ÷ this |\n"
        out += "| --- | --- | ---: | ---: | ---: | ---: |\n"
        for w in workloads {
            for a in allocators(of: w) {
                guard let c = cell(w, a) else { continue }
                let noisy = c.min > 0 && c.max / c.min > 1.10 ? " (noisy)" : ""
                let r = pasNames.contains(a) ? "—" : ratio(w, to: a).map { String(format: "%.2f", $0) } ?? "n/a"
                out +=
                    "| \(w) | \(a) | \(String(format: "%.1f", c.median)) | \(String(format: "%.1f–%.1f", c.min, c.max))\(noisy) | \(String(format: "%.1f", c.rss)) | \(r) |\n"
            }
        }
        out += "\n| workload | best peer | Pas ÷ best peer |\n| --- | --- | ---: |\n"
        var logs: [Double] = []
        for w in workloads {
            let peers = allocators(of: w).filter { !pasNames.contains($0) }
            guard let best = peers.compactMap({ a in cell(w, a).map { (a, $0.median) } }).min(by: { $0.1 < $1.1 }),
                let r = ratio(w, to: best.0)
            else { continue }
            logs.append(log(r))
            out += "| \(w) | \(best.0) | \(String(format: "%.2f", r)) |\n"
        }
        let extras = results.filter { $0.extra != nil }
        if !extras.isEmpty {
            out += "\nOther figures (median over runs):\n"
            var keys: [(String, String, String)] = []
            for r in extras {
                for k in r.extra!.keys.sorted() where !keys.contains(where: { $0 == (r.workload, r.allocator, k) }) {
                    keys.append((r.workload, r.allocator, k))
                }
            }
            for (w, a, k) in keys {
                let v = extras.filter { $0.workload == w && $0.allocator == a }.compactMap { $0.extra?[k] }.sorted()
                if !v.isEmpty { out += "- \(w) / \(a): \(k) = \(String(format: "%.4f", v[v.count / 2]))\n" }
            }
        }
        if !logs.isEmpty {
            out += "\nGeometric mean of Pas ÷ best peer: \(String(format: "%.2f", exp(logs.reduce(0, +) / Double(logs.count))))\n"
        }
        return out
    }

    /// A bar chart of Pas ÷ each peer per workload (log scale around 1).
    func svg() -> String {
        var rows: [(String, String, Double)] = []
        for w in workloads {
            for a in allocators(of: w) where !pasNames.contains(a) {
                if let r = ratio(w, to: a), r.isFinite, r > 0 { rows.append((w, a, r)) }
            }
        }
        let rowHeight = 18, width = 720, labelWidth = 260, height = rows.count * rowHeight + 60
        let mid = Double(labelWidth + (width - labelWidth) / 2), scale = Double(width - labelWidth) / 2 / log2(16)
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<text x=\"10\" y=\"16\">Pas time ÷ peer time (left of the line: Pas faster; log scale, ×1/16 … ×16)</text>\n"
        s += "<line x1=\"\(mid)\" y1=\"24\" x2=\"\(mid)\" y2=\"\(height - 10)\" stroke=\"black\"/>\n"
        for (i, row) in rows.enumerated() {
            let y = 30 + i * rowHeight
            let x = log2(row.2) * scale
            let clamped = max(-Double(width - labelWidth) / 2, min(Double(width - labelWidth) / 2, x))
            let color = row.2 <= 1 ? "#2a7" : "#c44"
            s += "<text x=\"10\" y=\"\(y + 12)\">\(row.0) vs \(row.1)</text>\n"
            s +=
                "<rect x=\"\(min(mid, mid + clamped))\" y=\"\(y + 2)\" width=\"\(abs(clamped))\" height=\"\(rowHeight - 4)\" fill=\"\(color)\"/>\n"
            s += "<text x=\"\(mid + (clamped >= 0 ? clamped + 4 : 4))\" y=\"\(y + 12)\">\(String(format: "%.2f", row.2))</text>\n"
        }
        s += "</svg>\n"
        return s
    }
}
