/* test_sqlparse.c: statements, their lines and trees, and syntax errors with
 * the right file:line, through libpg_query. */
#include <stdlib.h>

#include "check.h"
#include "common/sqlparse.h"

static const char *stmt_kind(const SqlStatement *st)
{
    const char *key = NULL;
    json_t *value;
    json_object_foreach(st->tree, key, value)
    {
        (void)value;
        return key;
    }
    return "";
}

static void good_multi(void)
{
    Err err;
    SqlScript *s = NULL;
    const char *sql = "-- leading comment\n"
                      "SET lock_timeout = '5s';\n"
                      "\n"
                      "/* block\n comment */ CREATE TABLE \"s\".\"t\" (a int)\n"
                      "  PARTITION BY RANGE (a);\n"
                      "SELECT ';' AS semi; SELECT 2\n";
    err_clear(&err);
    CHECK(sql_script_parse(sql, "f.sql", 10, &s, &err));
    CHECK(s && sql_script_count(s) == 4);
    if (s && sql_script_count(s) == 4) {
        const SqlStatement *a = sql_script_get(s, 0), *b = sql_script_get(s, 1);
        const SqlStatement *c = sql_script_get(s, 2), *d = sql_script_get(s, 3);
        CHECK_STR(a->text, "SET lock_timeout = '5s'");
        CHECK(a->line == 11);
        CHECK_STR(stmt_kind(a), "VariableSetStmt");
        CHECK_STR(stmt_kind(b), "CreateStmt");
        CHECK(b->line == 14);
        CHECK_STR(b->text, "CREATE TABLE \"s\".\"t\" (a int)\n  PARTITION BY RANGE (a)");
        CHECK_STR(c->text, "SELECT ';' AS semi");
        CHECK(c->line == 16 && d->line == 16);
        CHECK_STR(d->text, "SELECT 2");
        CHECK(a->plpgsql == NULL);
        CHECK(sql_script_get(s, 4) == NULL);
        CHECK(sql_script_line(s, 0) == 10);
        CHECK(sql_script_line(s, 100000) == 16 + 1); /* clamped: after the last newline */
    }
    sql_script_free(s);
    sql_script_free(NULL);
}

static void empty(void)
{
    Err err;
    SqlScript *s = NULL;
    err_clear(&err);
    CHECK(sql_script_parse("", "e.sql", 1, &s, &err));
    CHECK(s && sql_script_count(s) == 0);
    sql_script_free(s);
    s = NULL;
    CHECK(sql_script_parse("-- only a comment\n", "e.sql", 1, &s, &err));
    CHECK(s && sql_script_count(s) == 0);
    sql_script_free(s);
}

static void bad_line(void)
{
    Err err;
    SqlScript *s = NULL;
    err_clear(&err);
    CHECK(!sql_script_parse("SELECT 1;\n\nSELEC 2;\nSELECT 3;\n", "bad.sql", 5, &s, &err));
    CHECK(s == NULL);
    CHECK(err.code == PM_EINPUT);
    CHECK_STR(err.file, "bad.sql");
    CHECK(err.line == 7);
    CHECK(strstr(err.msg, "syntax error at or near \"SELEC\"") != NULL);
    CHECK(err.hint[0] != '\0');

    err_clear(&err);
    CHECK(!sql_parse_check("CREATE TABLE t (a int,\n  b int,\n);\n", "t.sql", 1, &err));
    CHECK(err.line == 3);
    err_clear(&err);
    CHECK(!sql_parse_check("SELECT 'unterminated\n", "u.sql", 1, &err));
    CHECK(err.code == PM_EINPUT && err.line == 1);
    err_clear(&err);
    CHECK(sql_parse_check("SELECT 1", "ok.sql", 1, &err));
}

static void do_block(void)
{
    Err err;
    SqlScript *s = NULL;
    const char *sql = "SELECT 1;\n"
                      "DO $body$\n"
                      "BEGIN\n"
                      "  IF NOT EXISTS (SELECT 1 FROM s.t) THEN\n"
                      "    DROP TABLE s.t;\n"
                      "  END IF;\n"
                      "END\n"
                      "$body$;\n";
    err_clear(&err);
    CHECK(sql_script_parse(sql, "do.sql", 1, &s, &err));
    if (s && sql_script_count(s) == 2) {
        const SqlStatement *d = sql_script_get(s, 1);
        CHECK_STR(stmt_kind(d), "DoStmt");
        CHECK(d->line == 2);
        CHECK(d->body_line == 2);
        CHECK(d->plpgsql != NULL);
        CHECK(json_object_get(d->plpgsql, "action") != NULL);
        char *dump = json_dumps(d->plpgsql, 0);
        CHECK(dump && strstr(dump, "DROP TABLE s.t") != NULL);
        free(dump);
    } else {
        CHECK(!"two statements");
    }
    sql_script_free(s);

    /* a body that holds the wrapper's own quote tag still parses */
    err_clear(&err);
    CHECK(sql_parse_check("DO $$BEGIN PERFORM '$partmig_do$'; END$$", "q.sql", 1, &err));

    /* a broken body is an error at the body's line */
    err_clear(&err);
    CHECK(!sql_parse_check("SELECT 1;\n\nDO $$\nBEGIN\n  DROPP TABLE x;\nEND $$;\n", "dob.sql", 1, &err));
    CHECK(err.line == 5); /* the line of the token the parser names */
    CHECK(strstr(err.msg, "DO block") != NULL);
    /* an error that names no token: the line the body starts on */
    err_clear(&err);
    CHECK(!sql_parse_check("\nDO $$\nBEGIN\n  FOR r IN SELECT 1 LOOP NULL; END LOOP;\nEND $$;", "dor.sql", 1, &err));
    CHECK(err.line == 2);

    /* another language: only the outer statement is parsed */
    err_clear(&err);
    CHECK(sql_parse_check("DO LANGUAGE plperl $$ not plpgsql at all $$;", "p.sql", 1, &err));
}

/* CREATE INDEX IF NOT EXISTS on a qualified table: its schema and name;
 * not without IF NOT EXISTS, not on an unqualified table (search_path
 * decides where that goes), not for other statements */
static void index_if_not_exists(void)
{
    const char *sql = "CREATE UNIQUE INDEX IF NOT EXISTS \"Ix \"\"1\"\"\" ON ONLY \"S q\".t USING btree (a);\n"
                      "CREATE INDEX IF NOT EXISTS ix ON t (a);\n"
                      "CREATE INDEX ix2 ON s.t (a);\n"
                      "CREATE TABLE IF NOT EXISTS s.u (a int);\n";
    SqlScript *s = NULL;
    Err err;
    err_clear(&err);
    CHECK(sql_script_parse(sql, "i.sql", 1, &s, &err));
    const char *schema = NULL, *name = NULL;
    CHECK(sql_index_if_not_exists(sql_script_get(s, 0), &schema, &name));
    CHECK_STR(schema, "S q");
    CHECK_STR(name, "Ix \"1\"");
    CHECK(!sql_index_if_not_exists(sql_script_get(s, 1), &schema, &name));
    CHECK(!sql_index_if_not_exists(sql_script_get(s, 2), &schema, &name));
    CHECK(!sql_index_if_not_exists(sql_script_get(s, 3), &schema, &name));
    sql_script_free(s);
}

int main(void)
{
    sql_parse_cleanup(); /* before any parse: must not crash */
    good_multi();
    empty();
    bad_line();
    do_block();
    index_if_not_exists();
    sql_parse_cleanup();
    return check_report();
}
