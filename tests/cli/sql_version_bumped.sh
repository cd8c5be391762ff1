#!/usr/bin/env bash
# sql_version_bumped.sh: sql/ledger.sql or sql/conversion.sql changed only
# with a new sql_version (ledger.sql's header), recorded with the files'
# hash in sql/versions.txt: ledger_ensure runs the files on an existing
# ledger only when the stored version differs, so a change without a bump
# would never reach the databases partmig already set up.
. tests/lib/assert.sh
version=$(sed -n 's/^-- partmig sql_version: \([0-9][0-9]*\)$/\1/p' sql/ledger.sql)
hash=$(cat sql/ledger.sql sql/conversion.sql | sha256sum | cut -c1-64)
assert_eq "$(echo "$version" | grep -cE "^[0-9]+$")" 1 "ledger.sql's header names the version"
recorded=$(grep -v '^#' sql/versions.txt | awk -v v="$version" '$1 == v { print $2 }')
assert_eq "$recorded" "$hash" "sql/versions.txt records sql_version $version with the files' hash (changed the SQL? bump the version in sql/ledger.sql and add \"N <sha256>\" to sql/versions.txt)"
last=$(grep -v '^#' sql/versions.txt | awk '{ print $1 }' | sort -n | tail -1)
assert_eq "$last" "$version" "the header's version is the newest recorded"
assert_done
