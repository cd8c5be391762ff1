#!/usr/bin/env bash
# password_url.sh: a password in a connection URL never reaches the output,
# even when the URL does not parse (libpq's own parse error quotes it), the
# password key is percent-encoded, or the server cannot be reached; every
# --db help says a password there shows in ps.  No server needed.
. tests/lib/assert.sh
for url in 'postgresql://bob:S3cretPW@[::1' 'postgresql://bob:S3cretPW@localhost:5432/db?sslmode=bogus' \
           'host=127.0.0.1 port=1 user=bob password=S3cretPW dbname=x' 'postgresql://bob:S3cretPW@127.0.0.1:1/x' \
           'postgresql://bob@127.0.0.1:1/x?pass%77ord=S3cretPW' 'postgresql://bob@[::1?pass%77ord=S3cretPW'; do
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
for cmd in status plan apply verify rollback maintain finalize; do
    run_cmd "$PARTMIG" $cmd --help
    assert_contains "$OUT$ERR" "others see it in ps" "$cmd --help: a password in --db shows in ps"
    assert_contains "$OUT$ERR" "PGPASSWORD or ~/.pgpass" "$cmd --help: where a password belongs"
done
assert_done
