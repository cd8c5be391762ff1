/* commands.h: the subcommands main.c dispatches to.  Each takes the argv
 * after the subcommand name (argv[0] is the subcommand) and returns an exit
 * code (PM_*). */
#ifndef PARTMIG_COMMANDS_H
#define PARTMIG_COMMANDS_H

int cmd_compile(int argc, char **argv);  /* compiler/compile.c */
int cmd_lint(int argc, char **argv);     /* compiler/lint.c */
int cmd_plan(int argc, char **argv);     /* runtime/apply.c */
int cmd_apply(int argc, char **argv);    /* runtime/apply.c */
int cmd_status(int argc, char **argv);   /* runtime/status.c */
int cmd_verify(int argc, char **argv);   /* runtime/verify.c */
int cmd_rollback(int argc, char **argv); /* runtime/rollback.c */
int cmd_finalize(int argc, char **argv); /* runtime/convert.c */
int cmd_maintain(int argc, char **argv); /* runtime/maintain.c */
int cmd_init(int argc, char **argv);     /* runtime/init.c */

#endif
