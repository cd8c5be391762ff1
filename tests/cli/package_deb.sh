#!/usr/bin/env bash
# package_deb.sh: the .deb "./build.sh package" makes, opened as an operator
# would.  Builds the package from this source (Release, the binary only, in a
# build directory of its own), then: dpkg-deb -c (binary, man page, completion,
# systemd units), dpkg-deb -I (fields, shared-library Depends, Recommends of
# pg_dump), dpkg-deb -x into a scratch directory and runs its partmig
# --version; man -l on its page (every command, every option of every
# --help, every policy key partmig accepts); its completion completes
# "partmig ap<TAB>" and every command's options; the systemd units pass
# systemd-analyze verify (else a syntax check) and the CronJob parses.
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
SRC=${PARTMIG_SOURCE:-$PWD}
start=$SECONDS

for tool in cpack dpkg-deb dpkg-shlibdeps man python3; do
    command -v "$tool" >/dev/null && pass || fail "$tool is missing (./build.sh installs dpkg-dev and man-db)"
done

# --- build the package -------------------------------------------------------------
if cmake -S "$SRC" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >"$tmp/log" 2>&1 &&
    cmake --build "$tmp/build" -j2 --target partmig_docs >>"$tmp/log" 2>&1 &&
    (cd "$tmp/build" && cpack -G DEB -B "$tmp/out" >>"$tmp/log" 2>&1); then
    pass
else
    fail "building the package failed: $(tail -20 "$tmp/log")"
    assert_done
fi
debs=("$tmp"/out/partmig_*.deb)
assert_eq "${#debs[@]}" 1 "one .deb"
deb=${debs[0]}
version=$("$PARTMIG" --version | sed 's/^partmig //')
arch=$(dpkg --print-architecture)
assert_eq "$(basename "$deb")" "partmig_${version}_${arch}.deb" "the Debian file name"

# --- contents ----------------------------------------------------------------------
contents=$(dpkg-deb -c "$deb")
assert_eq "$?" 0 "dpkg-deb -c"
for f in ./usr/bin/partmig ./usr/share/man/man1/partmig.1.gz \
    ./usr/share/bash-completion/completions/partmig \
    ./usr/lib/systemd/system/partmig-maintain.service ./usr/lib/systemd/system/partmig-maintain.timer \
    ./usr/lib/sysusers.d/partmig.conf ./usr/share/doc/partmig/OPERATIONS.md \
    ./usr/share/doc/partmig/examples/k8s-cronjob.yaml ./usr/share/doc/partmig/examples/partmig-maintain.env; do
    assert_contains "$contents" " $f" "the package holds $f"
done
assert_contains "$(printf '%s\n' "$contents" | grep ' ./usr/bin/partmig$')" "-rwxr-xr-x root/root" "the binary is 0755 root:root"
assert_not_contains "$contents" "/usr/local" "nothing under /usr/local"

# --- fields ------------------------------------------------------------------------
info=$(dpkg-deb -I "$deb")
field() { printf '%s\n' "$info" | sed -n "s/^ $1: //p"; }
assert_eq "$(field Package)" partmig "Package"
assert_eq "$(field Version)" "$version" "Version is partmig --version's"
assert_eq "$(field Architecture)" "$arch" "Architecture"
assert_eq "$(field Maintainer)" "partmig developers" "Maintainer"
assert_eq "$(field Recommends)" "postgresql-client-15" "Recommends pg_dump's package"
depends=$(field Depends)
for lib in libc6 libpq5 liblua5.4-0 libpcre2-8-0 libjansson4 libssl3 libpg-query; do
    assert_contains "$depends" "$lib" "Depends names $lib (dpkg-shlibdeps)"
done
for script in postinst prerm postrm; do
    body=$(dpkg-deb -I "$deb" "$script")
    assert_contains "$body" "#!/bin/sh" "$script is a shell script"
    sh -n <(printf '%s\n' "$body") && pass || fail "$script: sh -n"
done
assert_contains "$(dpkg-deb -I "$deb" postinst)" "systemd-sysusers partmig.conf" "postinst creates the partmig user"

# --- the extracted binary ----------------------------------------------------------
root=$tmp/root
dpkg-deb -x "$deb" "$root"
assert_eq "$?" 0 "dpkg-deb -x"
bin=$root/usr/bin/partmig
assert_eq "$("$bin" --version)" "partmig $version" "the package's partmig --version"
if file "$bin" 2>/dev/null | grep -q 'not stripped'; then fail "the binary is stripped"; else pass; fi

# --- man -l ------------------------------------------------------------------------
page=$(MANPAGER=cat MANWIDTH=200 man --warnings -l "$root/usr/share/man/man1/partmig.1.gz" 2>"$tmp/man.err")
assert_eq "$?" 0 "man -l"
assert_eq "$(cat "$tmp/man.err")" "" "man -l: no groff warnings"
assert_contains "$page" "PARTMIG(1)" "the page is partmig(1)"
assert_contains "$page" "partmig $version" "the page names the version"
commands=$("$bin" --help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p')
[ "$(printf '%s\n' "$commands" | wc -l)" -ge 10 ] && pass || fail "commands of --help: $commands"
for c in $commands; do
    assert_contains "$page" "partmig $c"$'\n' "the page has a section for $c"
    help=$("$bin" help "$c")
    assert_contains "$page" "$(printf '%s\n' "$help" | head -1)" "the page holds $c's usage line"
    for opt in $(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z-]+' | sort -u) \
        $(printf '%s\n' "$help" | grep -oE -- '^ +-[a-zA-Z]\b' | tr -d ' ' | sort -u); do
        sec=$(printf '%s\n' "$page" | awk -v h="   partmig $c" '$0 == h {on=1; next} on && /^   partmig / {exit} on')
        assert_contains "$sec" "$opt" "the page's $c section names $opt"
    done
done
# every key partmig accepts, as its own "allowed:" lists say (nested tables too)
keys_sec=$(printf '%s\n' "$page" | awk '/^POLICY KEYS/ {on=1; next} on && /^[A-Z]/ {exit} on')
R='column = "c", interval = "1 month"'
for body in "partition \"t\" { $R, zz = 1 }" \
    "partition \"t\" { $R, retention = { keep = \"24 months\", zz = 1 } }" \
    "partition \"t\" { $R, indexes = { { columns = { \"a\" }, zz = 1 } } }" \
    "partition \"t\" { $R, tiering = { { older_than = \"1 month\", tablespace = \"x\", zz = 1 } } }" \
    "partition \"t\" { $R, subpartition = { by = \"hash\", column = \"d\", modulus = 2, zz = 1 } }" \
    "partition \"t\" { $R, existing = { zz = 1 } }"; do
    printf '%s\n' "$body" >"$tmp/p.lua"
    keys=$("$bin" compile "$tmp/p.lua" -o "$tmp/m" 2>&1 | sed -n 's/.*; allowed: //p' | tr -d ',' | head -1)
    [ -n "$keys" ] && pass || fail "no allowed: list for: $body"
    for k in $keys; do
        printf '%s\n' "$keys_sec" | grep -qE "^       $k( |$)" && pass || fail "the page's POLICY KEYS has key $k"
    done
done
for s in ENVIRONMENT FILES "SEE ALSO"; do
    assert_contains "$page" $'\n'"$s"$'\n' "the page has $s"
done

# --- bash completion ---------------------------------------------------------------
comp=$root/usr/share/bash-completion/completions/partmig
complete_line() { # WORD... -> the completions of the last word
    bash -c '. "$1"; shift; COMP_WORDS=(partmig "$@"); COMP_CWORD=$#; _partmig; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$comp" "$@" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'
}
assert_eq "$(complete_line ap)" "apply" "partmig ap<TAB>"
assert_eq "$(complete_line help fin)" "finalize" "partmig help fin<TAB>"
assert_eq "$(complete_line maintain --dr)" "--drain-default --dry-run" "partmig maintain --dr<TAB>"
assert_eq "$(complete_line --ver)" "--version" "partmig --ver<TAB>"
all=$(complete_line '')
for c in $commands help; do assert_contains " $all " " $c " "partmig <TAB> offers $c"; done
mkdir -p "$tmp/cwd/migrations.d" && touch "$tmp/cwd/migrations.txt"
assert_eq "$(cd "$tmp/cwd" && complete_line apply -d migr)" "migrations.d" "partmig apply -d <TAB> offers directories only"
assert_eq "$(complete_line apply --db pos)" "" "partmig apply --db <TAB> offers nothing"
for c in $commands; do
    offered=" $(complete_line "$c" -) "
    for opt in $("$bin" help "$c" | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
        assert_contains "$offered" " $opt " "partmig $c -<TAB> offers $opt"
    done
done

# --- systemd units -----------------------------------------------------------------
units=$tmp/units
mkdir -p "$units"
svc=$root/usr/lib/systemd/system/partmig-maintain.service
tmr=$root/usr/lib/systemd/system/partmig-maintain.timer
for want in "ExecStart=/usr/bin/partmig maintain" "User=partmig" "EnvironmentFile=/etc/partmig/maintain.env" \
    "NoNewPrivileges=yes" "ProtectSystem=strict" "ReadWritePaths=" "StateDirectory=partmig" "Type=oneshot"; do
    assert_contains "$(cat "$svc")" "$want" "the service has $want"
done
assert_contains "$(cat "$tmr")" "OnCalendar=" "the timer has OnCalendar"
assert_contains "$(cat "$tmr")" "WantedBy=timers.target" "the timer is enabled into timers.target"
# the package's binary instead of /usr/bin/partmig, which verify checks exists
sed "s#/usr/bin/partmig#$bin#" "$svc" >"$units/partmig-maintain.service"
cp "$tmr" "$units/"
if command -v systemd-analyze >/dev/null; then
    out=$(systemd-analyze verify --man=no "$units/partmig-maintain.service" "$units/partmig-maintain.timer" 2>&1)
    assert_eq "$?" 0 "systemd-analyze verify"
    assert_eq "$out" "" "systemd-analyze verify: no warnings"
    exposure=$(systemd-analyze security --offline=yes "$units/partmig-maintain.service" 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }' && pass ||
        fail "systemd-analyze security: exposure $exposure, want <= 2.0"
    mkdir -p "$tmp/sysroot/etc"
    systemd-sysusers --root="$tmp/sysroot" "$root/usr/lib/sysusers.d/partmig.conf" >/dev/null 2>&1
    assert_contains "$(cat "$tmp/sysroot/etc/passwd" 2>/dev/null)" "partmig:x:" "systemd-sysusers creates the partmig user"
else
    echo "package_deb.sh: no systemd-analyze here: the units get a syntax check only"
    for u in "$units"/*; do
        bad=$(grep -vE '^(#.*|\[(Unit|Service|Timer|Install)\]|[A-Za-z]+=.*|)$' "$u")
        assert_eq "$bad" "" "$(basename "$u"): every line is a comment, a section or Key=value"
    done
fi

# --- Kubernetes CronJob ------------------------------------------------------------
yaml=$root/usr/share/doc/partmig/examples/k8s-cronjob.yaml
if python3 -c 'import yaml' 2>/dev/null; then
    got=$(python3 - "$yaml" <<'EOF'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
c = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
env = {e["name"]: e for e in c.get("env", [])}
print(d["kind"], d["spec"]["concurrencyPolicy"], " ".join(c["command"][:2]),
      "secret" if "secretKeyRef" in env["PARTMIG_DATABASE_URL"].get("valueFrom", {}) else "no-secret")
EOF
)
    assert_eq "$got" "CronJob Forbid partmig maintain secret" "the CronJob: maintain, Forbid, the URL from a Secret"
else
    echo "package_deb.sh: python3 has no yaml module: the CronJob is not parsed"
fi

echo "package_deb.sh: $((SECONDS - start)) s"
assert_done
