#!/usr/bin/env bash
# password_url.sh: a password in a connection URL never reaches the output,
# even when the URL does not parse (libpq's own parse error quotes it) or the
# server cannot be reached.  No server needed.
. tests/lib/assert.sh
for url in 'postgresql://bob:S3cretPW@[::1' 'postgresql://bob:S3cretPW@localhost:5432/db?sslmode=bogus' \
           'host=127.0.0.1 port=1 user=bob password=S3cretPW dbname=x' 'postgresql://bob:S3cretPW@127.0.0.1:1/x'; do
    for cmd in status "plan -d migrations" "maintain --dry-run"; do
        run_cmd "$PARTMIG" $cmd --db "$url"
        [ "$RC" != 0 ] && pass || fail "$cmd with a bad URL must fail"
        assert_not_contains "$OUT$ERR" "S3cretPW" "$cmd --db '${url%%S3cret*}...': no password in the output"
        assert_contains "$ERR" "partmig:" "$cmd: a partmig message"
    done
    PARTMIG_DATABASE_URL="$url" run_cmd "$PARTMIG" status
    assert_not_contains "$OUT$ERR" "S3cretPW" "PARTMIG_DATABASE_URL: no password in the output"
done
run_cmd "$PARTMIG" status --db 'postgresql://bob:S3cretPW@[::1'
assert_eq "$RC" 2 "a URL that does not parse is bad input"
assert_done
