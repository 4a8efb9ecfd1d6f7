#!/bin/sh
# Install the Debian packages the build and the tests need, if missing.
# Usage: scripts/deps.sh [build|test]   (test adds the sanitizer/fuzzer toolchain)
set -eu
# libcriterion-dev is a build dependency: `make` builds the unit-test programs.
want="build-essential pkg-config libck-dev libjemalloc-dev libssl-dev liblmdb-dev libcriterion-dev"
if [ "${1:-build}" = test ]; then
	want="$want clang libclang-rt-14-dev clang-format"
fi
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
