# cli_smoke.sh: the CLI contract's surface -- --help, --version, every
# subcommand's --help, unknown command and unknown option exit 2 with a
# "partmig: ..." message.
#
# IMPLEMENTED lists the subcommands whose --help must work (exit 0, usage on
# stdout) and which must reject an unknown option.  Add a subcommand here when
# it lands; until then it may only be the placeholder ("... is not
# implemented yet", exit 2) -- anything else fails.
IMPLEMENTED=(compile lint plan apply status verify rollback)
ALL=(compile lint plan apply status verify rollback finalize maintain)

cd "${PARTMIG_SOURCE:-.}" || exit 2
. tests/lib/assert.sh

run_cmd "$PARTMIG" --help
assert_eq "$RC" 0 "--help exit code"
assert_contains "$OUT" "usage: partmig COMMAND" "--help prints usage on stdout"
for c in "${ALL[@]}"; do
    assert_contains "$OUT" "  $c " "--help lists $c"
done
assert_contains "$OUT" "exit codes:" "--help documents exit codes"

run_cmd "$PARTMIG" --version
assert_eq "$RC" 0 "--version exit code"
if printf '%s' "$OUT" | grep -Eq '^partmig [0-9]+\.[0-9]+\.[0-9]+$'; then pass; else fail "--version prints 'partmig X.Y.Z', got '$OUT'"; fi

run_cmd "$PARTMIG"
assert_eq "$RC" 2 "no command exit code"
assert_contains "$ERR" "usage: partmig" "no command: usage on stderr"

run_cmd "$PARTMIG" frobnicate
assert_eq "$RC" 2 "unknown command exit code"
assert_contains "$ERR" 'partmig: unknown command "frobnicate"' "unknown command message"
assert_contains "$ERR" "hint: " "unknown command hint"

run_cmd "$PARTMIG" --no-such-option
assert_eq "$RC" 2 "unknown top-level option exit code"
assert_contains "$ERR" "partmig: " "unknown top-level option message"

# messages: "partmig: ..." lowercase after the prefix, no trailing period
check_message() { # STDERR WHAT
    local first=${1%%$'\n'*}
    case "$first" in *.) fail "$2: message ends with a period: $first" ;; *) pass ;; esac
    case "$first" in "partmig: "[A-Z]*) fail "$2: message starts uppercase: $first" ;; *) pass ;; esac
}
check_message "$(cd "${PARTMIG_SOURCE:-.}" && "$PARTMIG" frobnicate 2>&1 >/dev/null)" "unknown command"

is_implemented() {
    local c
    for c in "${IMPLEMENTED[@]}"; do [ "$c" = "$1" ] && return 0; done
    return 1
}

for c in "${ALL[@]}"; do
    run_cmd "$PARTMIG" "$c" --help
    if is_implemented "$c"; then
        assert_eq "$RC" 0 "$c --help exit code"
        assert_contains "$OUT" "usage: partmig $c" "$c --help prints its usage on stdout"
        assert_eq "$ERR" "" "$c --help writes nothing to stderr"
        run_cmd "$PARTMIG" "$c" --no-such-option
        assert_eq "$RC" 2 "$c unknown option exit code"
        assert_contains "$ERR" "partmig: " "$c unknown option: partmig: message"
        assert_contains "$ERR" "no-such-option" "$c unknown option is named"
        check_message "$ERR" "$c unknown option"
    elif [ "$RC" = 0 ]; then
        assert_contains "$OUT" "usage: partmig $c" "$c --help prints its usage (add $c to IMPLEMENTED)"
    else
        assert_eq "$RC" 2 "$c placeholder exit code"
        assert_contains "$ERR" "partmig: $c is not implemented yet" "$c --help: placeholder or usage"
    fi
done

assert_done
