#!/bin/sh
# build.sh OUTPUT [VERSION]: the release binary exactly as the image ships it:
# static (no cgo), stripped (-s -w), without the build machine's paths
# (-trimpath), with VERSION stamped into main.version.
#
# The Dockerfile runs this script, and so does the image check of make test
# (deploy/image/build_test.go), which cannot run Docker here: one command for
# both, so the checked binary is the shipped one.
set -eu
out=${1:?usage: build.sh OUTPUT [VERSION]}
version=${2:-dev}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/../.."
CGO_ENABLED=0 exec go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$out" ./cmd/lcw-auth-proxy
