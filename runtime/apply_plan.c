/* apply_plan.c: what every step action of plan/apply shares -- the step's
 * policy -- and what plan and apply --dry-run print besides the steps' SQL:
 * the partitions earlier steps would create, whether an extension can be
 * created, and plan --json's objects. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/sqlparse.h"
#include "apply_internal.h"
#include "catalog.h"

/* plan: remember the partitions the SQL of the current step would create. */
bool apply_note_planned_partitions(Apply *a, Err *err)
{
    SqlScript *script = NULL;
    if (!a->s->sql || !sql_script_parse(a->s->sql, a->f->path, 1, &script, err))
        return !a->s->sql;
    for (int i = 0; i < sql_script_count(script); i++) {
        const char *schema, *name, *pschema, *parent;
        if (!sql_partition_of(sql_script_get(script, i), &schema, &name, &pschema, &parent))
            continue;
        if (a->nplanned == a->capplanned) {
            a->capplanned = a->capplanned ? a->capplanned * 2 : 16;
            a->planned = arena_grow(a->arena, (void *)a->planned, (size_t)a->nplanned, (size_t)a->capplanned,
                                    sizeof *a->planned);
        }
        a->planned[a->nplanned++] = arena_printf(a->arena, "%s.%s", schema, name);
    }
    sql_script_free(script);
    return true;
}

bool apply_planned(const Apply *a, const char *schema, const char *name)
{
    for (int i = 0; i < a->nplanned; i++) {
        const char *dot = strchr(a->planned[i], '.');
        if (dot && !strncmp(a->planned[i], schema, (size_t)(dot - a->planned[i])) &&
            strlen(schema) == (size_t)(dot - a->planned[i]) && !strcmp(dot + 1, name))
            return true;
    }
    return false;
}

void apply_out_sql(const char *sql)
{
    size_t n = strlen(sql);
    fputs(sql, stdout);
    while (n && (sql[n - 1] == ' ' || sql[n - 1] == '\n'))
        n--;
    if (n && sql[n - 1] != ';')
        fputs(";", stdout);
    fputs("\n", stdout);
}

/* plan: a step that creates an extension says whether it can (CREATE
 * EXTENSION of an untrusted extension, pg_partman among them, needs a
 * superuser unless the extension is installed already). */
bool apply_note_extensions(Apply *a, Err *err)
{
    SqlScript *script = NULL;
    if (!sql_script_parse(a->s->sql, a->f->path, 1, &script, err))
        return false;
    bool ok = true;
    for (int i = 0; ok && i < sql_script_count(script); i++) {
        json_t *ext = json_object_get(sql_script_get(script, i)->tree, "CreateExtensionStmt");
        const char *name = json_string_value(json_object_get(ext, "extname"));
        if (!name)
            continue;
        const char *state = "";
        ok = catalog_extension_state(a->c, name, a->arena, &state, err);
        if (!ok)
            break;
        if (!strcmp(state, "installed"))
            printf("-- extension %s is installed already: CREATE EXTENSION does nothing\n", name);
        else if (!strcmp(state, "superuser") || !strcmp(state, "trusted"))
            printf("-- this step creates extension %s (CREATE EXTENSION needs a superuser; this role %s)\n", name,
                   !strcmp(state, "superuser") ? "is one" : "may: the extension is trusted");
        else
            printf("-- this step creates extension %s: CREATE EXTENSION needs a superuser and role \"%s\" is not "
                   "one, so apply will fail here; have a superuser run CREATE EXTENSION %s first\n",
                   name, state + strlen("refused: "), name);
    }
    sql_script_free(script);
    return ok;
}

/* plan --json: the current step as an object, SQL what plan prints for
 * it, SUPERSEDED (or "") why it does not run. */
json_t *apply_plan_step_json(Apply *a, const char *sql, const char *superseded)
{
    const Step *s = a->s;
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:o, s:b, s:o, s:s}", "version",
                          arena_printf(a->arena, "%04d", a->f->m.version), "file", a->f->name, "step", s->number,
                          "action", step_action_name(s->action), "title", s->title ? s->title : "", "table",
                          s->table ? json_string(s->table) : json_null(), "transactional", s->transactional, "lock",
                          s->lock ? json_string(s->lock) : json_null(), "sql", sql);
    if (*superseded)
        json_object_set_new(o, "superseded", json_string(superseded));
    return o;
}

/* The step's policy (as of its version); error when the files have none. */
bool apply_step_policy(Apply *a, const char **json, Policy *p, Err *err)
{
    if (!a->s->table)
        return err_at(err, PM_EINPUT, a->f->path, 0, "step %d (%s) names no table", a->s->number,
                      step_action_name(a->s->action));
    if (!migdir_policy(&a->dir, a->s->table, a->f->m.version, a->arena, json, p, err))
        return false;
    if (!*json) {
        err_at(err, PM_EINPUT, a->f->path, 0, "step %d: no policy for \"%s\" in this or an earlier migration",
               a->s->number, a->s->table);
        return err_hint(err, "the file has no \"-- partmig:policy\" line for the table; recompile the policies");
    }
    /* the key's type as the table has it: bounds are printed as it shows them */
    return !p->column || !a->schema ||
           catalog_column_type(a->c, a->schema, a->table, p->column, a->arena, &p->key_type, err);
}
