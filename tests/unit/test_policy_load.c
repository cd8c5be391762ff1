/* test_policy_load.c: the Lua DSL -- defaults, curried partition calls, lines, errors. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "model/policy.h"

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

/* Hostile policies: no finalizers, bounded counts, text checked and escaped. */
static void hostile(void)
{
    Arena a = {0};
    PolicySet set = {0};
    Err err;
    const char *path = write_policy("gc.lua", "local t = {}\n"
                                              "setmetatable(t, { __gc = function() while true do end end })\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(err.line == 2);
    CHECK_STR(err.msg, "setmetatable: __gc (finalizers) is not allowed in policies");

    path = write_policy("close.lua", "do local x <close> = setmetatable({}, { __close = function() end }) end\n"
                                     "partition \"t\" { column = \"c\", interval = \"1 day\" }\n");
    CHECK(policy_load_file(path, &a, &set, &err)); /* __close runs under the hook: allowed */
    set.n = 0;

    path = write_policy("rep.lua", "assert(string.rep(\"\", 1e18) == \"\")\n"
                                   "assert(string.rep(\"ab\", 3, \",\") == \"ab,ab,ab\")\n"
                                   "local s = string.rep(\"x\", 1 << 40)\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(err.line == 3);
    CHECK(strstr(err.msg, "string.rep: the result would be larger than 64 MiB") != NULL);

    path = write_policy("indexes.lua", "local ix = {}\n"
                                       "for i = 1, 101 do ix[i] = { columns = { \"c\" } } end\n"
                                       "partition \"t\" { column = \"c\", interval = \"1 day\", indexes = ix }\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(err.line == 3);
    CHECK_STR(err.msg, "partition \"t\": indexes: 101 entries, more than the limit of 100");

    path = write_policy("error.lua", "\nerror(\"no\\nhint: \\27[31m\")\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(err.line == 2);
    CHECK_STR(err.msg, "no\\nhint: \\x1b[31m");
    /* partmig's own hint, never the policy's text */
    CHECK_STR(err.hint, "the policy's own Lua code failed there (an error() call or a runtime error): fix the code on "
                        "that line");

    path =
        write_policy("utf8.lua", "partition \"t\" { by = \"list\", column = \"c\", values = { a = { \"\\255\" } } }\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK_STR(err.msg, "partition \"t\": values.a[1] \"\\xff\": holds invalid UTF-8");

    path = write_policy("key.lua", "partition \"t\" { column = \"c\\v\", interval = \"1 day\" }\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK_STR(err.msg, "partition \"t\": column \"c\\x0b\": holds a control character");

    path = write_policy("name\r.lua", "partition \"t\" { column = \"c\", interval = \"1 day\" }\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(strstr(err.msg, "name\\r.lua\" holds a control character") != NULL);
    CHECK_STR(err.file, "");
    CHECK(set.n == 0);

    /* what is copied out counts against the budget (last: the budget is the process's) */
    path = write_policy("copy.lua", "local v = {}\n"
                                    "for i = 1, 5000 do v[i] = i .. string.rep(\"x\", 990) end\n"
                                    "for i = 1, 20 do\n"
                                    "  partition(\"t\" .. i) { by = \"list\", column = \"c\", values = { a = v } }\n"
                                    "end\n");
    CHECK(!policy_load_file(path, &a, &set, &err));
    CHECK(err.line == 4);
    CHECK(strstr(err.msg, "policies take more than 64 MiB once read") != NULL);
    CHECK(set.n == 0);
    arena_free(&a);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    loads();
    hostile();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
