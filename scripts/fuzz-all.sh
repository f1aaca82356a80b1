#!/usr/bin/env bash
# Runs every Fuzz target in the module for a bounded time each (default 5s).
# Usage: scripts/fuzz-all.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-5s}"
count=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target for $budget"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" >/tmp/fuzz-$$.log 2>&1 || { cat /tmp/fuzz-$$.log; exit 1; }
    tail -n 3 /tmp/fuzz-$$.log | grep -E 'ok|PASS' >/dev/null || { cat /tmp/fuzz-$$.log; exit 1; }
    count=$((count + 1))
  done
done
echo "$count fuzz target(s) passed"
