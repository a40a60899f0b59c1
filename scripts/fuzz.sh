#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 5s). go test -fuzz takes one target per run, so this
# walks them. The committed corpus under */testdata/fuzz is replayed by the
# plain test run as well.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | awk '{print $2}'); do
		echo "fuzz $pkg $fn ($fuzztime)"
		go test "$pkg" -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" >/tmp/xgw-fuzz.log 2>&1 || { cat /tmp/xgw-fuzz.log; exit 1; }
	done
done
