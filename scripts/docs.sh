#!/usr/bin/env bash
# Builds the documentation of Pas, PasJIT and PasSystem with the toolchain's own docc (no package
# plugin) into a static site: .build/docs/<Module>/, e.g. .build/docs/Pas/documentation/pas/index.html
# once served from .build/docs (`python3 -m http.server -d .build/docs`, then /Pas/documentation/pas).
#
# Steps: a debug build of the three modules (incremental, in the default build directory), their
# public symbol graphs (swift symbolgraph-extract, from the built modules), then `docc convert` of
# each module's catalog (Sources/<Module>/<Module>.docc) with those symbol graphs. Any docc warning
# (an unresolved link, a malformed catalog) fails the script. Each module's documentation coverage
# is printed, with the public symbols that have no documentation comment; the full table and that
# list are kept in .build/docs/<Module>-coverage.txt and <Module>-undocumented.txt.
#
# Environment: DOCC overrides the docc binary (default: the one next to `swift`).
set -euo pipefail
cd "$(dirname "$0")/.."

modules=(PasSystem Pas PasJIT)
docc=${DOCC:-"$(dirname "$(command -v swift)")/docc"}
[ -x "$docc" ] || { echo "docs.sh: docc not found (set DOCC)" >&2; exit 2; }

# PasJIT depends on Pas and PasSystem: one build covers the three.
swift build --target PasJIT
bin=$(swift build --show-bin-path)
triple=$(swiftc -print-target-info | sed -n 's/^ *"triple": "\(.*\)",*$/\1/p' | head -n 1)
out=.build/docs
graphs=$out/symbol-graphs
rm -rf "$out"
mkdir -p "$graphs"

status=0
for module in "${modules[@]}"; do
    mkdir -p "$graphs/$module"
    swift symbolgraph-extract -module-name "$module" -target "$triple" \
        -I "$bin/Modules" -Xcc -fmodule-map-file="$bin/CPasShim.build/module.modulemap" \
        -minimum-access-level public -skip-synthesized-members -output-dir "$graphs/$module"
    echo "== $module"
    # docc writes its diagnostics and the detailed coverage table to standard output: kept in a
    # file, and shown in full if the conversion fails.
    if ! "$docc" convert "Sources/$module/$module.docc" \
        --additional-symbol-graph-dir "$graphs/$module" \
        --fallback-display-name "$module" --fallback-bundle-identifier "org.pas.$module" \
        --fallback-default-module-kind Framework \
        --output-path "$out/$module" --transform-for-static-hosting --hosting-base-path "$module" \
        --warnings-as-errors \
        --experimental-documentation-coverage --coverage-summary-level detailed \
        > "$out/$module-coverage.txt" 2>&1; then
        cat "$out/$module-coverage.txt"
        status=1
        continue
    fi
    # The summary, then every symbol whose Abstract column is false (collection groups aside).
    sed -n '/| Abstract/,/^$/p' "$out/$module-coverage.txt"
    awk -F '|' 'NF >= 8 && $3 ~ /false/ && $2 !~ /CollectionGroup/ {
            path = $8; sub(/^ *doc:\/\/[^\/]*\/documentation\//, "", path); sub(/ *$/, "", path); print path
        }' "$out/$module-coverage.txt" | sort > "$out/$module-undocumented.txt"
    echo "$module: $(wc -l < "$out/$module-undocumented.txt") public symbols without a documentation comment"
    sed 's/^/  /' "$out/$module-undocumented.txt"
done
exit $status
