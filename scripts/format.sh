#!/usr/bin/env bash
# Formats the package's Swift code with the toolchain's swift-format and the rules in .swift-format.
#
#   scripts/format.sh          rewrites Sources, Tests, Examples and Package.swift in place
#   scripts/format.sh --check  lints them in strict mode: prints every finding and exits non-zero
#                              if there is one; changes nothing
#
# swift-format ships with the Swift toolchain (next to `swift`); SWIFT_FORMAT overrides the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${SWIFT_FORMAT:-}" ]; then
    swift_format=$SWIFT_FORMAT
elif command -v swift-format >/dev/null; then
    swift_format=$(command -v swift-format)
else
    swift_format="$(dirname "$(command -v swift)")/swift-format"
fi
[ -x "$swift_format" ] || { echo "format.sh: swift-format not found (set SWIFT_FORMAT)" >&2; exit 2; }

paths=(Sources Tests Examples Package.swift)
case "${1:-}" in
    --check)
        exec "$swift_format" lint --strict --parallel --recursive --configuration .swift-format "${paths[@]}" ;;
    "")
        exec "$swift_format" format --in-place --parallel --recursive --configuration .swift-format "${paths[@]}" ;;
    *)
        echo "usage: scripts/format.sh [--check]" >&2
        exit 2 ;;
esac
