/* main.c: partmig's entry point -- parses the subcommand and dispatches. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/err.h"
#include "commands.h"

#ifndef PARTMIG_VERSION
#define PARTMIG_VERSION "0.0.0"
#endif

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"init", cmd_init, "write a starting policy for existing tables from the database"},
    {"compile", cmd_compile, "compile policies into versioned SQL migrations"},
    {"lint", cmd_lint, "flag risky statements in migration files"},
    {"plan", cmd_plan, "print what apply would run, changing nothing"},
    {"apply", cmd_apply, "apply pending migrations to a database"},
    {"status", cmd_status, "show migrations and partitions"},
    {"verify", cmd_verify, "re-check applied migrations against the database"},
    {"rollback", cmd_rollback, "undo steps back to a version"},
    {"finalize", cmd_finalize, "drop a converted table's old copy after verification"},
    {"maintain", cmd_maintain, "premake, retention, tiering (run from cron)"},
};

static void usage(FILE *out)
{
    fputs("usage: partmig COMMAND [OPTIONS]\n"
          "       partmig help [COMMAND]\n"
          "       partmig --version\n\ncommands:\n",
          out);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("\nevery command has --help (or: partmig help COMMAND)\n"
          "  --version  print partmig's version\n"
          "exit codes: 0 success, 1 database or verification failure, 2 bad input,\n"
          "            3 another runner holds the lock\n"
          "reference: docs/CLI.md (commands), docs/POLICY.md (policy keys)\n",
          out);
}

static const Command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    log_msg(LOG_ERROR, "unknown command \"%s\"", name);
    log_hint("run \"partmig --help\" for the list");
    return PM_EINPUT;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PM_EINPUT;
    }
    if (!strcmp(argv[1], "help") && argc > 2) {
        /* partmig help CMD: the same as partmig CMD --help */
        const Command *c = find_command(argv[2]);
        if (!c)
            return unknown_command(argv[2]);
        char *help_argv[] = {argv[2], "--help", NULL};
        return c->run(2, help_argv);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return PM_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("partmig %s\n", PARTMIG_VERSION);
        return PM_OK;
    }
    const Command *c = find_command(argv[1]);
    return c ? c->run(argc - 1, argv + 1) : unknown_command(argv[1]);
}
