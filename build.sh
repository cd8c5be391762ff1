#!/usr/bin/env bash
# build.sh: partmig's one entry point.
#   ./build.sh            install missing Debian packages, build build/partmig
#   ./build.sh test       build, run every test (also an ASan+UBSan build)
#   ./build.sh demo       compile and apply the ERP example on a throwaway PostgreSQL
#   ./build.sh bench      run the benchmarks, print and save the table
#   ./build.sh golden     regenerate golden test outputs (review the diff)
#   ./build.sh format     clang-format every C file in place
#   ./build.sh package    build build-pkg/partmig_VERSION_ARCH.deb (CPack; docs/OPERATIONS.md)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(build-essential cmake pkg-config libpq-dev liblua5.4-dev libpcre2-dev libpg-query-dev
          libjansson-dev libssl-dev postgresql-15 postgresql-15-partman postgresql-15-pgtap postgresql-client-15
          python3 clang-format valgrind clang openssh-client git python3-prometheus-client
          dpkg-dev man-db)
# squawk (PostgreSQL migration linter, npm package squawk-cli), pinned: its
# rules change between versions; tests/cli/squawk_golden.sh runs it over
# partmig's output
SQUAWK_VERSION=2.66.0
SQUAWK_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/partmig/squawk

squawk_install() {
    local bin="$SQUAWK_DIR/node_modules/.bin/squawk"
    [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "squawk $SQUAWK_VERSION" ] && return 0
    echo "build.sh: installing squawk-cli@$SQUAWK_VERSION into $SQUAWK_DIR" >&2
    mkdir -p "$SQUAWK_DIR"
    npm install --prefix "$SQUAWK_DIR" --no-audit --no-fund --silent "squawk-cli@$SQUAWK_VERSION" >/dev/null
}

deps() {
    deps_packages
    squawk_install
}

deps_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    # npm (for squawk) by its command: a machine may have Node.js from
    # elsewhere, whose npm Debian's package would conflict with
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "build.sh: installing ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    # the Debian server package must not start a cluster of its own
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() { # build DIR [cmake args...]
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)" -- --no-print-directory
}

run_tests() {
    build build
    echo "== tests (build/)"
    (cd build && ctest --output-on-failure -j"${PARTMIG_TEST_JOBS:-2}")
    echo "== tests under ASan+UBSan (build-asan/)"
    build build-asan -DPARTMIG_SANITIZE=ON
    # fuzz_short and package_deb build their own binaries, and valgrind cannot
    # run a sanitized binary: none runs twice; the load tests (the matrix,
    # 1,100 partitions, a busy writer) run once too -- their code paths run
    # under the sanitizers in the other conversion tests
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j"${PARTMIG_TEST_JOBS:-2}" \
        -E 'fuzz_short|valgrind|package_deb|convert_matrix|convert_many_partitions|convert_busy_writer')
    echo "== format check"
    check_format
}

# a Release build without the tests; CPack's DEB generator (dpkg-shlibdeps of
# dpkg-dev for the Depends), the .deb left in build-pkg/
package() {
    build build-pkg -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
    (cd build-pkg && cpack -G DEB >/dev/null)
    local deb
    deb=$(ls -t build-pkg/partmig_*.deb | head -1)
    dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\|Recommends\):/&/p'
    echo "built $deb"
}

check_format() {
    local bad
    bad=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | grep -c 'warning:' || true)
    if [ "$bad" != 0 ]; then
        echo "build.sh: clang-format finds $bad places to fix; run ./build.sh format" >&2
        return 1
    fi
    echo "format: clean"
}

cmd=${1:-build}
case "$cmd" in
build) deps; build build; echo "built build/partmig" ;;
test) deps; run_tests ;;
demo) deps; build build; exec bash tests/demo.sh ;;
bench) deps; build build; exec bash bench/run.sh ;;
golden) deps; build build; exec bash tests/golden/regenerate.sh ;;
format) git ls-files '*.c' '*.h' | xargs clang-format -i ;;
package) deps; package ;;
*) echo "usage: ./build.sh [build|test|demo|bench|golden|format|package]" >&2; exit 2 ;;
esac
