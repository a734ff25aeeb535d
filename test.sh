#!/usr/bin/env bash
# Runs the tests of every Go module in this repository: the library at the
# root, and the modules that keep their dependencies out of it (bench/,
# examples/, ...). Arguments go to every `go test`, e.g. ./test.sh -race.
set -euo pipefail
cd "$(dirname "$0")"

status=0
for mod in $(find . -name go.mod -not -path '*/testdata/*' -printf '%h\n' | sort); do
	echo "== ${mod#./}: go test $* ./..."
	if ! (cd "$mod" && go test "$@" ./...); then
		status=1
	fi
done
exit $status
