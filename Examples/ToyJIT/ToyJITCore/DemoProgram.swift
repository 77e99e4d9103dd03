/// The built-in demonstration program: recursion, loops and calls between functions.
public enum DemoProgram {
    /// Source of the demo. `main` returns `fib(25) + primes(10000) + collatz(10000)`;
    /// the pieces can also be called on their own.
    public static let source = """
        // Naive recursive Fibonacci: many calls through the function table.
        fn fib(n) {
            if n < 2 { return n; }
            return fib(n - 1) + fib(n - 2);
        }

        // 1 when n is prime (trial division).
        fn isPrime(n) {
            if n < 2 { return 0; }
            let d = 2;
            while d * d <= n {
                if n % d == 0 { return 0; }
                d = d + 1;
            }
            return 1;
        }

        // How many primes are below `limit`.
        fn primes(limit) {
            let count = 0;
            let n = 2;
            while n < limit {
                count = count + isPrime(n);
                n = n + 1;
            }
            return count;
        }

        // Steps for n to reach 1 under the Collatz map.
        fn collatzSteps(n) {
            let steps = 0;
            while n != 1 {
                if n % 2 == 0 { n = n / 2; } else { n = 3 * n + 1; }
                steps = steps + 1;
            }
            return steps;
        }

        // The start below `limit` with the longest Collatz sequence.
        fn collatz(limit) {
            let best = 1;
            let longest = 0;
            let n = 1;
            while n < limit {
                let steps = collatzSteps(n);
                if steps > longest { longest = steps; best = n; }
                n = n + 1;
            }
            return best;
        }

        fn main() {
            return fib(25) + primes(10000) + collatz(10000);
        }
        """

    /// A replacement for the demo's `fib`: the same results (n itself for n < 2) from a loop
    /// instead of recursion. The demo passes it to `Engine.redefine` to show a function being
    /// re-tiered: the new code is installed, the table entry switched, the old code freed.
    public static let fastFib = """
        fn fib(n) {
            if n < 2 { return n; }
            let previous = 0;
            let current = 1;
            let i = 1;
            while i < n {
                let next = previous + current;
                previous = current;
                current = next;
                i = i + 1;
            }
            return current;
        }
        """

    /// Calls worth showing one by one: (function, arguments).
    public static let showcase: [(name: String, arguments: [Int64])] = [
        ("fib", [25]), ("primes", [10000]), ("collatz", [10000]), ("main", []),
    ]
}
