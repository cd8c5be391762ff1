/* convert.c: placeholder until table conversion lands; refuses clearly. */
#include <stdio.h>

#include "../commands.h"
#include "convert.h"

bool convert_preflight(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    (void)c;
    (void)o;
    return err_set(err, PM_EDB, "converting the existing table \"%s\" is not implemented yet", p->table);
}

bool convert_run(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    return convert_preflight(c, p, o, err);
}

bool convert_undo(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    (void)c;
    (void)p;
    (void)o;
    (void)err;
    return true;
}

const char *convert_ledger_ddl(void)
{
    return "";
}

int cmd_finalize(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "partmig: %s is not implemented yet\n", argv[0]);
    return PM_EINPUT;
}
