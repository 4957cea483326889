#!/usr/bin/env bash
# Release builds: cross-compiles qs-promoter for windows/amd64, linux/amd64 and linux/arm64 with
# the version, commit and date stamped in, zips each with the README, the licence, the starter
# layout (as `qs-promoter init` writes it) and the deploy files, and writes SHA-256 checksums.
#
#   scripts/release.sh [VERSION]            VERSION defaults to `git describe`
#   OUT=dist TARGETS="linux/amd64" scripts/release.sh v1.2.0
#
# RELEASE_FLAGS (default -trimpath: no build machine paths in the binaries) go to `go build`;
# CI sets it empty so the builds share the compile cache of its other builds.
#
# The date is the commit's (or SOURCE_DATE_EPOCH), so the same commit gives the same archives.
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
if ! [[ $version =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]]; then
  echo "release: version \"$version\" may hold only letters, digits and . _ + -" >&2
  exit 2
fi
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  epoch=$SOURCE_DATE_EPOCH
else
  epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$epoch" +%Y-%m-%dT%H:%M:%SZ)
out=${OUT:-dist}
targets=${TARGETS:-windows/amd64 linux/amd64 linux/arm64}

# main.version, main.commit and main.date: `qs-promoter version` prints them (a variable the
# program does not declare is ignored by the linker).
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"

mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# A build for this machine writes the starter layout (init) into each archive.
CGO_ENABLED=0 go build -o "$stage/init" ./cmd/qs-promoter

zips=()
for target in $targets; do
  goos=${target%/*}
  goarch=${target#*/}
  name=qs-promoter-$version-$goos-$goarch
  dir=$stage/$name
  exe=qs-promoter
  [ "$goos" = windows ] && exe=qs-promoter.exe
  echo "== $target"
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # RELEASE_FLAGS is a list of flags
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build ${RELEASE_FLAGS--trimpath} -ldflags "$ldflags" -o "$dir/$exe" ./cmd/qs-promoter
  cp README.md LICENSE "$dir/"
  # The starter layout, exactly as `qs-promoter init` writes it: qs-promoter.yaml, a
  # certs/<alias>/README.md per site, the shipped policies with their tests.
  "$stage/init" init "$dir" >/dev/null
  cp certs/README.md "$dir/certs/"
  mkdir -p "$dir/deploy/grafana"
  cp deploy/grafana/qs-promoter.json "$dir/deploy/grafana/"
  [ "$goos" = linux ] && cp deploy/qs-promoter.service "$dir/deploy/"
  rm -f "$out/$name.zip"
  go run scripts/zipdir.go -time "$epoch" "$out/$name.zip" "$dir"
  zips+=("$name.zip")
done

cd "$out"
if command -v sha256sum >/dev/null; then
  sha256sum "${zips[@]}" > SHA256SUMS
else
  shasum -a 256 "${zips[@]}" > SHA256SUMS
fi
echo "== $out"
cat SHA256SUMS
