/* test_maintain_dump.c: the password never reaches pg_dump's command line;
 * the COPY row count of a dump file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../common/err.h"
#include "../../runtime/maintain_dump.h"
#include "check.h"

static void split(const char *url, const char *want_url, const char *want_password)
{
    char *without, *password;
    dump_split_password(url, &without, &password);
    CHECK_STR(without, want_url);
    CHECK_STR(password, want_password);
    free(without);
    free(password);
}

static void count(const char *text, bool ok, int64_t want)
{
    char path[] = "/tmp/partmig-dump-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    Err err;
    err_clear(&err);
    int64_t rows = -1;
    CHECK(dump_count_rows(path, &rows, &err) == ok);
    if (ok)
        CHECK(rows == want);
    remove(path);
}

int main(void)
{
    split("postgresql://alice:s%40cret@db.example:5433/erp?sslmode=require",
          "postgresql://alice@db.example:5433/erp?sslmode=require", "s@cret");
    split("postgres://alice@db/erp?password=x%26y&application_name=a", "postgres://alice@db/erp?application_name=a",
          "x&y");
    split("postgresql://db/erp", "postgresql://db/erp", "");
    split("postgresql://u:p@[::1]:5432", "postgresql://u@[::1]:5432", "p");
    split("host=db dbname=erp password=it\\'s user=bob", "host=db dbname=erp user=bob", "it's");
    split("host=db password = 'a b\\'c' user=bob", "host=db user=bob", "a b'c");
    split("dbname=erp", "dbname=erp", "");

    count("SET x = 1;\nCOPY public.t (id) FROM stdin;\n1\n2\n3\n\\.\n\nALTER TABLE t;\n", true, 3);
    count("COPY public.t (id) FROM stdin;\n\\.\n", true, 0);
    count("COPY public.t (id) FROM stdin;\n1\n", false, 0);
    count("CREATE TABLE t ();\n", false, 0);
    return check_report();
}
