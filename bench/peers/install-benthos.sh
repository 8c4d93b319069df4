#!/usr/bin/env bash
# Builds the peer of `make bench-peers`, Benthos, pinned by exact version from the Go module
# proxy (`go install …@latest` and version listing are refused there), into the machine-wide
# tools cache, once. Prints the binary's path.
set -euo pipefail

BENTHOS_VERSION=v4.27.0
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/sluice
TOOLS=${SLUICE_TOOLS_DIR:-$CACHE/tools}
dir="$TOOLS/benthos-$BENTHOS_VERSION"

if [ ! -x "$dir/bin/benthos" ]; then
	src=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/benthosdev/benthos/v4@$BENTHOS_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
	[ -n "$src" ] || { echo "cannot download benthos $BENTHOS_VERSION" >&2; exit 1; }
	work=$(mktemp -d)
	trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	mkdir -p "$dir/bin"
	# Go 1.26 refuses the go:linkname pulls of an old dependency without this flag.
	(cd "$work" && GOWORK=off GOFLAGS=-mod=mod go build -ldflags=-checklinkname=0 -o "$dir/bin/benthos.tmp" ./cmd/benthos) >&2
	mv "$dir/bin/benthos.tmp" "$dir/bin/benthos"
	echo "benthos    installed $dir/bin/benthos" >&2
else
	echo "benthos    reused   $dir/bin/benthos" >&2
fi
echo "$dir/bin/benthos"
