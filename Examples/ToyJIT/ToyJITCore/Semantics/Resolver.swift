/// Turns one syntax function into a resolved `Function`: assigns a slot to every
/// parameter and `let`, checks names and argument counts, and enforces `Limits`.
/// Blocks open scopes; an inner `let` may shadow an outer name.
struct Resolver {
    let signatures: [String: (index: Int, parameterCount: Int)]
    private var scopes: [[String: Int]] = []
    private var slotCount = 0

    init(signatures: [String: (index: Int, parameterCount: Int)]) {
        self.signatures = signatures
    }

    mutating func resolve(_ function: SyntaxFunction) throws(SourceError) -> Function {
        guard function.parameters.count <= Limits.maximumParameters else {
            throw SourceError("'\(function.name)' has more than \(Limits.maximumParameters) parameters", at: function.location)
        }
        scopes = [[:]]
        for parameter in function.parameters {
            guard scopes[0][parameter] == nil else {
                throw SourceError("parameter '\(parameter)' appears twice", at: function.location)
            }
            scopes[0][parameter] = slotCount
            slotCount += 1
        }
        let body = try resolveBlock(function.body, newScope: false)
        return Function(
            name: function.name, parameterCount: function.parameters.count,
            slotCount: slotCount, body: body, location: function.location)
    }

    private mutating func resolveBlock(_ statements: [SyntaxStatement], newScope: Bool = true) throws(SourceError) -> [Statement]
    {
        if newScope { scopes.append([:]) }
        defer { if newScope { scopes.removeLast() } }
        var result: [Statement] = []
        for statement in statements { result.append(try resolveStatement(statement)) }
        return result
    }

    private func lookup(_ name: String) -> Int? {
        for scope in scopes.reversed() { if let slot = scope[name] { return slot } }
        return nil
    }

    private mutating func resolveStatement(_ statement: SyntaxStatement) throws(SourceError) -> Statement {
        switch statement {
        case let .let(name, value, location):
            // The initialiser sees the outer binding, not the new one.
            let resolved = try resolveExpression(value)
            guard scopes[scopes.count - 1][name] == nil else {
                throw SourceError("'\(name)' is already defined in this block", at: location)
            }
            guard slotCount < Limits.maximumSlots else {
                throw SourceError("too many variables (at most \(Limits.maximumSlots) per function)", at: location)
            }
            scopes[scopes.count - 1][name] = slotCount
            slotCount += 1
            return .store(slotCount - 1, resolved)
        case let .assign(name, value, location):
            guard let slot = lookup(name) else { throw SourceError("undefined variable '\(name)'", at: location) }
            return .store(slot, try resolveExpression(value))
        case let .if(condition, then, otherwise):
            return .if(try resolveExpression(condition), try resolveBlock(then), try resolveBlock(otherwise))
        case let .while(condition, body):
            return .while(try resolveExpression(condition), try resolveBlock(body))
        case let .return(value, _):
            return .return(try value.map { (v) throws(SourceError) in try resolveExpression(v) } ?? .constant(0))
        case let .expression(value):
            return .evaluate(try resolveExpression(value))
        }
    }

    private func resolveExpression(_ expression: SyntaxExpression) throws(SourceError) -> Expression {
        switch expression {
        case let .integer(value, _):
            return .constant(value)
        case let .variable(name, location):
            guard let slot = lookup(name) else { throw SourceError("undefined variable '\(name)'", at: location) }
            return .local(slot)
        case let .call(name, arguments, location):
            guard let callee = signatures[name] else { throw SourceError("undefined function '\(name)'", at: location) }
            guard callee.parameterCount == arguments.count else {
                throw SourceError("'\(name)' takes \(callee.parameterCount) argument(s), given \(arguments.count)", at: location)
            }
            var resolved: [Expression] = []
            for argument in arguments { resolved.append(try resolveExpression(argument)) }
            return .call(callee.index, resolved)
        case let .unary(op, operand, _):
            return .unary(op, try resolveExpression(operand))
        case let .binary(op, left, right, _):
            return .binary(op, try resolveExpression(left), try resolveExpression(right))
        }
    }
}
