import PasTestSupport

/// Generates random toy programs that always terminate: helpers only call earlier
/// helpers (no recursion), every loop counts a private counter up to a small bound, and
/// a cost estimate caps the work done through nested loops and calls.
struct RandomProgramGenerator {
    var rng: SplitMix64
    private var costs: [Int] = [] // estimated statements executed per call, per helper
    private var parameterCounts: [Int] = []
    // Per-function state.
    private var scopes: [[String]] = []
    private var counters: Set<String> = []
    private var nextName = 0
    private var multiplier = 1
    private var cost = 0
    private var callable = 0
    private static let budget = 4000

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    private mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0 ..< 100, using: &rng) < percent }
    private mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0 ..< items.count, using: &rng)] }

    mutating func program() -> String {
        let helperCount = Int.random(in: 0 ... 4, using: &rng)
        var text = ""
        for index in 0 ..< helperCount {
            let parameters = Int.random(in: 0 ... 6, using: &rng)
            text += function(name: "f\(index)", parameters: parameters, callable: index)
            parameterCounts.append(parameters)
        }
        text += function(name: "main", parameters: 0, callable: helperCount)
        return text
    }

    private mutating func fresh() -> String {
        nextName += 1
        return "v\(nextName)"
    }

    private var visible: [String] { scopes.flatMap { $0 } }

    private mutating func function(name: String, parameters: Int, callable: Int) -> String {
        let names = (0 ..< parameters).map { "p\($0)" }
        scopes = [names]
        counters = []
        multiplier = 1
        cost = 0
        self.callable = callable
        var body = ""
        for _ in 0 ..< Int.random(in: 1 ... 5, using: &rng) { body += statement(depth: 0, indent: "    ") }
        // Return a mix of everything visible so the result depends on the whole body.
        let mix = visible.map { "\($0) * \(Int.random(in: 1 ... 9, using: &rng))" }
        body += "    return \(([expression(depth: 0)] + mix).joined(separator: " + "));\n"
        costs.append(cost + 1)
        return "fn \(name)(\(names.joined(separator: ", "))) {\n\(body)}\n"
    }

    private mutating func block(depth: Int, indent: String) -> String {
        scopes.append([])
        defer { scopes.removeLast() }
        var text = ""
        for _ in 0 ..< Int.random(in: 0 ... 3, using: &rng) { text += statement(depth: depth + 1, indent: indent + "    ") }
        return text
    }

    private mutating func statement(depth: Int, indent: String) -> String {
        cost += multiplier
        let assignable = visible.filter { !counters.contains($0) }
        switch Int.random(in: 0 ..< 10, using: &rng) {
        case 0 ... 2:
            let value = expression(depth: 0)
            let name = fresh()
            scopes[scopes.count - 1].append(name)
            return "\(indent)let \(name) = \(value);\n"
        case 3 ... 4 where !assignable.isEmpty:
            return "\(indent)\(pick(assignable)) = \(expression(depth: 0));\n"
        case 5 ... 6 where depth < 3:
            var text = "\(indent)if \(expression(depth: 0)) {\n\(block(depth: depth, indent: indent))\(indent)}"
            if chance(50) { text += " else {\n\(block(depth: depth, indent: indent))\(indent)}" }
            return text + "\n"
        case 7 where depth < 3 && multiplier < 100:
            let counter = fresh()
            let bound = Int.random(in: 0 ... 6, using: &rng)
            scopes[scopes.count - 1].append(counter)
            counters.insert(counter)
            multiplier *= bound + 1
            defer { multiplier /= bound + 1 }
            let body = block(depth: depth, indent: indent)
            return
                "\(indent)let \(counter) = 0;\n\(indent)while \(counter) < \(bound) {\n\(body)\(indent)    \(counter) = \(counter) + 1;\n\(indent)}\n"
        case 8 where chance(30):
            return "\(indent)return \(expression(depth: 0));\n"
        default:
            return "\(indent)\(expression(depth: 0));\n"
        }
    }

    private mutating func constant() -> String {
        switch Int.random(in: 0 ..< 10, using: &rng) {
        case 0: return pick(["0", "1", "(-1)", "(-9223372036854775807 - 1)", "9223372036854775807", "2"])
        case 1: return String(Int64.random(in: 0 ... Int64.max, using: &rng))
        default: return String(Int.random(in: 0 ... 100, using: &rng))
        }
    }

    private mutating func expression(depth: Int) -> String {
        let names = visible
        let roll = Int.random(in: 0 ..< 12, using: &rng)
        if depth >= 4 || roll < 3 {
            return names.isEmpty || chance(25) ? constant() : pick(names)
        }
        switch roll {
        case 3:
            return "\(pick(["-", "!"]))\(expression(depth: depth + 1))"
        case 4 where callable > 0:
            let callee = Int.random(in: 0 ..< callable, using: &rng)
            guard cost + multiplier * costs[callee] <= Self.budget else { return constant() }
            cost += multiplier * costs[callee]
            var arguments: [String] = []
            for _ in 0 ..< parameterCounts[callee] { arguments.append(expression(depth: depth + 1)) }
            return "f\(callee)(\(arguments.joined(separator: ", ")))"
        default:
            let op = pick(BinaryOperatorSpelling.all)
            return "(\(expression(depth: depth + 1)) \(op) \(expression(depth: depth + 1)))"
        }
    }
}

enum BinaryOperatorSpelling {
    /// Arithmetic is listed three times so values stay varied rather than collapsing to 0 or 1.
    static let all =
        ["+", "-", "*", "/", "%"] + ["+", "-", "*", "/", "%"] + ["+", "-", "*", "/", "%"]
        + ["<", "<=", ">", ">=", "==", "!=", "&&", "||"]
}
