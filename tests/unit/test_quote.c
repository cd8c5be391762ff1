/* test_quote.c: quote_ident / quote_qualified / quote_literal, checked with
 * PostgreSQL's own parser: a hostile name stays one harmless identifier. */
#include "check.h"
#include "common/quote.h"
#include "common/sqlparse.h"

static const char *const hostile = "x\"; DROP TABLE y; --";

static void exact(void)
{
    Buf b = {0};
    quote_ident(&b, "journal_entries");
    CHECK_STR(buf_str(&b), "\"journal_entries\"");
    buf_reset(&b);
    quote_ident(&b, "Mixed Case");
    CHECK_STR(buf_str(&b), "\"Mixed Case\"");
    buf_reset(&b);
    quote_ident(&b, hostile);
    CHECK_STR(buf_str(&b), "\"x\"\"; DROP TABLE y; --\"");
    buf_reset(&b);
    quote_qualified(&b, "public", "t");
    CHECK_STR(buf_str(&b), "\"public\".\"t\"");
    buf_reset(&b);
    quote_literal(&b, "it's");
    CHECK_STR(buf_str(&b), "'it''s'");
    buf_reset(&b);
    quote_literal(&b, "a\\b");
    CHECK_STR(buf_str(&b), "'a\\b'");
    buf_reset(&b);
    quote_literal(&b, "");
    CHECK_STR(buf_str(&b), "''");
    buf_free(&b);
}

/* Parse SQL; it must be exactly one statement of KIND.  Returns its node
 * (borrowed from *SCRIPT, which the caller frees) or NULL. */
static json_t *one_statement(const char *sql, const char *kind, SqlScript **script)
{
    Err err;
    err_clear(&err);
    *script = NULL;
    if (!sql_script_parse(sql, "quote.sql", 1, script, &err)) {
        fprintf(stderr, "parse failed: %s\n", err.msg);
        return NULL;
    }
    if (sql_script_count(*script) != 1)
        return NULL;
    return json_object_get(sql_script_get(*script, 0)->tree, kind);
}

static void hostile_identifier(void)
{
    const char *schemas[] = {"public", hostile};
    for (int i = 0; i < 2; i++) {
        Buf sql = {0};
        SqlScript *script = NULL;
        buf_append(&sql, "DROP TABLE IF EXISTS ");
        quote_qualified(&sql, schemas[i], hostile);
        buf_append(&sql, ";");
        json_t *drop = one_statement(buf_str(&sql), "DropStmt", &script);
        CHECK(drop != NULL);
        /* one object, named exactly [schema, hostile] */
        json_t *objects = json_object_get(drop, "objects");
        CHECK(json_array_size(objects) == 1);
        json_t *items = json_object_get(json_object_get(json_array_get(objects, 0), "List"), "items");
        CHECK(json_array_size(items) == 2);
        CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(items, 0), "String"), "sval")),
                  schemas[i]);
        CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(items, 1), "String"), "sval")),
                  hostile);
        sql_script_free(script);
        buf_free(&sql);
    }

    /* as a column and an index name in a CREATE INDEX */
    Buf sql = {0};
    SqlScript *script = NULL;
    buf_append(&sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS ");
    quote_ident(&sql, hostile);
    buf_append(&sql, " ON ");
    quote_qualified(&sql, "public", "t");
    buf_append(&sql, " (");
    quote_ident(&sql, hostile);
    buf_append(&sql, ")");
    json_t *index = one_statement(buf_str(&sql), "IndexStmt", &script);
    CHECK(index != NULL);
    CHECK_STR(json_string_value(json_object_get(index, "idxname")), hostile);
    json_t *elem = json_object_get(json_array_get(json_object_get(index, "indexParams"), 0), "IndexElem");
    CHECK_STR(json_string_value(json_object_get(elem, "name")), hostile);
    sql_script_free(script);
    buf_free(&sql);
}

static void hostile_literal(void)
{
    const char *texts[] = {"'; DROP TABLE y; --", "a\\'b", "$$x$$", "line\nbreak"};
    for (int i = 0; i < 4; i++) {
        Buf sql = {0};
        SqlScript *script = NULL;
        buf_append(&sql, "SELECT ");
        quote_literal(&sql, texts[i]);
        buf_append(&sql, ";");
        json_t *select = one_statement(buf_str(&sql), "SelectStmt", &script);
        CHECK(select != NULL);
        json_t *target = json_object_get(json_array_get(json_object_get(select, "targetList"), 0), "ResTarget");
        json_t *constant = json_object_get(json_object_get(target, "val"), "A_Const");
        CHECK_STR(json_string_value(json_object_get(json_object_get(constant, "sval"), "sval")), texts[i]);
        sql_script_free(script);
        buf_free(&sql);
    }
}

/* The arena variants and buf_to_arena: the same text, owned by the arena
 * (the buffer is freed and may be reused). */
static void arena_strings(void)
{
    Arena a = {0};
    CHECK_STR(quote_ident_str(&a, hostile), "\"x\"\"; DROP TABLE y; --\"");
    CHECK_STR(quote_qualified_str(&a, "my schema", "t\""), "\"my schema\".\"t\"\"\"");
    CHECK_STR(quote_literal_str(&a, "it's"), "'it''s'");
    CHECK_STR(quote_ident_str(&a, ""), "\"\"");
    Buf b = {0};
    buf_printf(&b, "%s-%d", "x", 7);
    const char *s = buf_to_arena(&b, &a);
    CHECK(b.data == NULL && b.len == 0);
    buf_append(&b, "other");
    CHECK_STR(s, "x-7");
    CHECK_STR(buf_to_arena(&b, &a), "other");
    CHECK_STR(buf_to_arena(&b, &a), "");
    arena_free(&a);
}

int main(void)
{
    exact();
    arena_strings();
    hostile_identifier();
    hostile_literal();
    sql_parse_cleanup();
    return check_report();
}
