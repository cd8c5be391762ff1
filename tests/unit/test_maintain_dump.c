/* test_maintain_dump.c: names and directories fit for dump files, the
 * password never on pg_dump's command line, the COPY row count of a dump. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/err.h"
#include "../../runtime/maintain_dump.h"
#include "check.h"

/* pg_dump's argv for URL: no SECRET in it, PASSWORD apart, DBNAME_ARG the
 * --dbname argument (NULL: none). */
static void command(const char *url, const char *secret, const char *password, const char *dbname_arg)
{
    DumpCommand cmd;
    Err err;
    err_clear(&err);
    CHECK(dump_command(url, "public", "t_p2020_01", &cmd, &err));
    if (!cmd.argv)
        return;
    const char *dbname = NULL;
    for (int i = 0; cmd.argv[i]; i++) {
        if (secret)
            CHECK(!strstr(cmd.argv[i], secret));
        if (!strncmp(cmd.argv[i], "--dbname=", 9))
            dbname = cmd.argv[i];
    }
    if (dbname_arg)
        CHECK_STR(dbname, dbname_arg);
    else
        CHECK(dbname == NULL);
    CHECK_STR(cmd.password, password);
    CHECK_STR(cmd.argv[0], "pg_dump");
    dump_command_free(&cmd);
}

/* dump_check_target on DIR (under the scratch directory BASE). */
static void target(const char *base, const char *dir, const char *table, bool ok, const char *msg)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", base, dir);
    Err err;
    err_clear(&err);
    CHECK(dump_check_target(path, "public", table, &err) == ok);
    if (!ok)
        CHECK(strstr(err.msg, msg) != NULL);
    if (ok != (err.msg[0] == '\0'))
        fprintf(stderr, "%s: %s\n", path, err.msg);
}

static void directories(void)
{
    char base[] = "/tmp/partmig-dumpdir-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/good", base);
    CHECK(mkdir(p, 0700) == 0);
    snprintf(p, sizeof p, "%s/shared", base);
    CHECK(mkdir(p, 0700) == 0 && chmod(p, 0770) == 0);
    snprintf(p, sizeof p, "%s/open", base);
    CHECK(mkdir(p, 0700) == 0 && chmod(p, 01777) == 0);
    snprintf(p, sizeof p, "%s/link", base);
    CHECK(symlink("good", p) == 0);
    snprintf(p, sizeof p, "%s/file", base);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);

    target(base, "good", "t_p2020_01", true, "");
    target(base, "good/", "t_p2020_01", true, "");
    target(base, "missing", "t_p2020_01", true, ""); /* made 0700 when needed */
    target(base, "good", "e/../../x", false, "cannot be dumped");
    target(base, "good", "bell\a", false, "bell\\x07");
    target(base, "shared", "t_p2020_01", false, "writable by group or others");
    target(base, "open", "t_p2020_01", false, "writable by group or others");
    target(base, "link", "t_p2020_01", false, "is a symbolic link");
    target(base, "link/", "t_p2020_01", false, "is a symbolic link");
    target(base, "link/.", "t_p2020_01", false, "is a symbolic link");
    target(base, "link/./", "t_p2020_01", false, "is a symbolic link");
    target(base, "file", "t_p2020_01", false, "cannot open dump directory");
    target(base, "good/../good", "t_p2020_01", false, "climbs");
    if (geteuid() == 0) {
        snprintf(p, sizeof p, "%s/other", base);
        CHECK(mkdir(p, 0700) == 0 && chown(p, 65534, 65534) == 0);
        target(base, "other", "t_p2020_01", false, "belongs to uid 65534");
        rmdir(p);
    }
    const char *names[] = {"good", "shared", "open", "link", "file"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", base, names[i]);
        if (remove(p) != 0)
            rmdir(p);
    }
    CHECK(rmdir(base) == 0);
}

static void count(const char *text, bool ok, int64_t want)
{
    char path[] = "/tmp/partmig-dump-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    Err err;
    err_clear(&err);
    int64_t rows = -1;
    CHECK(dump_count_rows(fd, path, &rows, &err) == ok);
    if (ok)
        CHECK(rows == want);
    close(fd);
    remove(path);
}

int main(void)
{
    unsetenv("PARTMIG_PG_DUMP");
    unsetenv("PARTMIG_DATABASE_URL");

    CHECK(dump_name_ok("journal_entries_p2024_01"));
    CHECK(dump_name_ok("public"));
    CHECK(dump_name_ok("a.b"));
    CHECK(dump_name_ok("weird name \"quoted\""));
    CHECK(!dump_name_ok(""));
    CHECK(!dump_name_ok("e/../../x"));
    CHECK(!dump_name_ok("a/b"));
    CHECK(!dump_name_ok(".."));
    CHECK(!dump_name_ok("a..b"));
    CHECK(!dump_name_ok("line\nbreak"));
    CHECK(!dump_name_ok("esc\x1b[2J"));
    CHECK(!dump_name_ok("del\x7f"));
    CHECK(!dump_name_ok(NULL));

    CHECK(dump_dir_ok("dumps"));
    CHECK(dump_dir_ok("/var/backups/partmig"));
    CHECK(dump_dir_ok("./dumps/"));
    CHECK(dump_dir_ok("a..b/c"));
    CHECK(!dump_dir_ok(""));
    CHECK(!dump_dir_ok(".."));
    CHECK(!dump_dir_ok("../x"));
    CHECK(!dump_dir_ok("/srv/../etc"));
    CHECK(!dump_dir_ok("dumps/.."));
    CHECK(!dump_dir_ok("dumps/../"));
    CHECK(!dump_dir_ok("tab\tdir"));

    /* libpq decodes the key: "pass%77ord" is the password */
    command("postgresql://alice@db.example:5433/erp?pass%77ord=S3cretPW&sslmode=require", "S3cretPW", "S3cretPW",
            "--dbname=user='alice' dbname='erp' host='db.example' port='5433' sslmode='require'");
    command("postgresql://alice:s%40cretPW@db/erp", "cretPW", "s@cretPW",
            "--dbname=user='alice' dbname='erp' host='db'");
    command("host=db dbname=erp password='it\\'s secret' user=bob", "secret", "it's secret",
            "--dbname=user='bob' dbname='erp' host='db'");
    command("dbname='o\\'brien db' host=/tmp/x", NULL, "", "--dbname=dbname='o\\'brien db' host='/tmp/x'");
    /* a bare database name is the dbname */
    command("mydb", NULL, "", "--dbname=dbname='mydb'");
    command(NULL, NULL, "", NULL);
    setenv("PARTMIG_DATABASE_URL", "postgresql://u:EnvSecret1@h/d", 1);
    command(NULL, "EnvSecret1", "EnvSecret1", "--dbname=user='u' dbname='d' host='h'");
    unsetenv("PARTMIG_DATABASE_URL");
    {
        DumpCommand cmd;
        Err err;
        err_clear(&err);
        CHECK(!dump_command("postgresql://bob:S3cretPW@[::1", "public", "t", &cmd, &err));
        CHECK(!strstr(err.msg, "S3cretPW"));
        CHECK(err.code == PM_EINPUT);
    }

    directories();

    count("SET x = 1;\nCOPY public.t (id) FROM stdin;\n1\n2\n3\n\\.\n\nALTER TABLE t;\n", true, 3);
    count("COPY public.t (id) FROM stdin;\n\\.\n", true, 0);
    count("COPY public.t (id) FROM stdin;\n1\n", false, 0);
    count("CREATE TABLE t ();\n", false, 0);
    count("COPY public.t (id) FROM stdin;\n1\n\\.\nCOPY public.u (id) FROM stdin;\n1\n\\.\n", false, 0);
    return check_report();
}
