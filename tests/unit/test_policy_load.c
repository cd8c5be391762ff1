/* test_policy_load.c: the Lua DSL -- defaults, curried partition calls, lines, errors. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "compiler/policy.h"

static char dir[] = "/tmp/partmig-policy-XXXXXX";

static const char *write_policy(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void loads(void)
{
    Arena a = {0};
    PolicySet set = {0};
    Err err;
    const char *path = write_policy("ok.lua", "defaults { schema = \"app\", premake = 5 }\n"
                                              "partition \"first\" { column = \"at\", interval = \"1 day\" }\n"
                                              "defaults { premake = 1 }\n"
                                              "partition \"second\" {\n"
                                              "  by = \"list\", column = \"region\",\n"
                                              "  values = { zz = { \"Z\" }, aa = { \"A\", 1 } },\n"
                                              "}\n");
    CHECK(policy_load_file(path, &a, &set, &err));
    CHECK(set.n == 2);
    CHECK_STR(set.items[0].schema, "app");
    CHECK(set.items[0].premake == 5);
    CHECK(set.items[0].source_line == 2);
    CHECK(set.items[1].premake == 1);
    CHECK_STR(set.items[1].schema, "app");
    CHECK(set.items[1].source_line == 4);
    CHECK(set.items[1].by == PART_LIST && set.items[1].nlists == 2);
    CHECK_STR(set.items[1].lists[0].name, "aa"); /* sorted */
    CHECK_STR(set.items[1].lists[0].values.items[1], "1");
    CHECK_STR(set.items[0].source_file, path);

    /* a second file appends; a failing file leaves the set as it was */
    path = write_policy("bad.lua", "partition \"x\" { column = \"c\", interval = \"1 day\" }\n"
                                   "partition \"y\" { column = \"c\", interval = \"1 monht\" }\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(set.n == 2);
    CHECK(err.code == PM_EINPUT && err.line == 2);
    CHECK(strstr(err.msg, "partition \"y\": interval \"1 monht\"") != NULL);

    path = write_policy("glob.lua", "\n\nlocal x = os.time()\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(err.line == 3);
    CHECK_STR(err.msg, "unknown global \"os\"");
    arena_free(&a);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    loads();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
