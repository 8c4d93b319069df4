#!/usr/bin/env bash
# Builds every sluice image from deploy/docker/Dockerfile (one target per binary).
#
#   build-images.sh            build all images, tagged $REGISTRY/<image>:$TAG
#   build-images.sh --push     build and push
#   build-images.sh --list     print the image names and exit
#
# Environment: REGISTRY (default ghcr.io/sluice-dev), TAG (default: git describe, else dev),
# DOCKER (default docker; podman works too), PLATFORM (e.g. linux/amd64,linux/arm64: buildx).
# Without a reachable container engine it says so and exits 3, so `make images` fails loudly
# instead of pretending; set SLUICE_IMAGES_OPTIONAL=1 to make that a skip (exit 0).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DOCKER=${DOCKER:-docker}
REGISTRY=${REGISTRY:-ghcr.io/sluice-dev}
TAG=${TAG:-$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)}

# target=image, in build order (the CLI first: it provisions everything else's streams).
IMAGES=(
	sluice=sluice
	extractor=sluice-extractor
	staging-store=sluice-staging-store
	transformer=sluice-transformer
	loader=sluice-loader
	sim-amazonads=sluice-sim-amazonads
)

push=false
case "${1:-}" in
--list)
	for pair in "${IMAGES[@]}"; do echo "$REGISTRY/${pair#*=}:$TAG"; done
	exit 0
	;;
--push) push=true ;;
"") ;;
*) echo "usage: build-images.sh [--push|--list]" >&2; exit 2 ;;
esac

if ! command -v "$DOCKER" >/dev/null 2>&1 || ! "$DOCKER" info >/dev/null 2>&1; then
	echo "images: no container engine reachable ('$DOCKER info' failed); nothing built." >&2
	echo "images: start Docker (or set DOCKER=podman) and run deploy/docker/build-images.sh again." >&2
	[ "${SLUICE_IMAGES_OPTIONAL:-}" = 1 ] && exit 0
	exit 3
fi

for pair in "${IMAGES[@]}"; do
	target=${pair%%=*} ref="$REGISTRY/${pair#*=}:$TAG"
	args=(--file "$ROOT/deploy/docker/Dockerfile" --target "$target" --tag "$ref" --build-arg "VERSION=$TAG")
	if [ -n "${PLATFORM:-}" ]; then
		# Multi-platform images cannot be loaded into the local engine; buildx pushes them.
		$push && args+=(--push)
		"$DOCKER" buildx build --platform "$PLATFORM" "${args[@]}" "$ROOT"
	else
		DOCKER_BUILDKIT=1 "$DOCKER" build "${args[@]}" "$ROOT"
		$push && "$DOCKER" push "$ref"
	fi
	echo "images: built $ref"
done
