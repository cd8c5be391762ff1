#!/usr/bin/env bash
# fuzz_short.sh: build the libFuzzer targets (tests/fuzz) with clang into a
# temporary directory and run each for a few seconds from its seed corpus;
# any crash, sanitizer report or leak fails.  clang missing is a failure,
# not a skip.  A long campaign: tests/fuzz/README.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
SECONDS_EACH=${PARTMIG_FUZZ_SECONDS:-10}

if ! command -v clang >/dev/null 2>&1; then
    fail "clang is not installed: the fuzz targets need it (apt-get install clang)"
    assert_done
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! cmake -S . -B "$tmp/build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARTMIG_FUZZ=ON \
    >"$tmp/configure.log" 2>&1; then
    cat "$tmp/configure.log" >&2
    fail "configure the fuzz build"
    assert_done
fi
if ! cmake --build "$tmp/build" --target fuzz -j"${PARTMIG_FUZZ_JOBS:-2}" >"$tmp/build.log" 2>&1; then
    tail -40 "$tmp/build.log" >&2
    fail "build the fuzz targets"
    assert_done
fi

targets=0
for corpus in tests/fuzz/corpus/*/; do
    name=$(basename "$corpus")
    bin="$tmp/build/tests/fuzz/fuzz_$name"
    if [ ! -x "$bin" ]; then
        fail "no fuzz target for corpus $name"
        continue
    fi
    targets=$((targets + 1))
    # work on a copy: the seed corpus in the repository stays as committed
    mkdir -p "$tmp/corpus/$name"
    cp "$corpus"/* "$tmp/corpus/$name/"
    (cd "$tmp" && "$bin" -max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2048 \
        -artifact_prefix="$tmp/$name-" "$tmp/corpus/$name" >"$tmp/$name.log" 2>&1)
    rc=$?
    runs=$(grep -o 'Done [0-9]* runs' "$tmp/$name.log" | grep -o '[0-9]*' || echo 0)
    if [ "$rc" = 0 ]; then
        pass
        echo "fuzz_$name: $runs runs in ${SECONDS_EACH}s, no crash"
    else
        fail "fuzz_$name found a crash (exit $rc); the input is below"
        grep -E 'ERROR|runtime error|SUMMARY|does not|#[0-9]+ 0x' "$tmp/$name.log" | head -30 >&2
        for f in "$tmp/$name"-*; do [ -f "$f" ] && { echo "--- $f (base64):" >&2; base64 "$f" | head -40 >&2; }; done
    fi
done
assert_eq "$targets" 4 "one fuzz target per corpus (plan_read, sum, policy, interval)"
assert_done
