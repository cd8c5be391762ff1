/* quote.h: the one place SQL text is quoted.  Works without a connection
 * (the compiler's case): identifiers are always double-quoted, literals are
 * standard-conforming ('' doubling; E'' never used, backslashes are plain). */
#ifndef PARTMIG_QUOTE_H
#define PARTMIG_QUOTE_H

#include <stdbool.h>

#include "arena.h"
#include "buf.h"

/* "name" with embedded quotes doubled. */
void quote_ident(Buf *b, const char *name);
/* "schema"."name" */
void quote_qualified(Buf *b, const char *schema, const char *name);
/* 'text' with embedded quotes doubled (standard_conforming_strings = on,
 * which every partmig migration file sets). */
void quote_literal(Buf *b, const char *text);

/* The same as strings owned by ARENA. */
const char *quote_ident_str(Arena *arena, const char *name);
const char *quote_qualified_str(Arena *arena, const char *schema, const char *name);
const char *quote_literal_str(Arena *arena, const char *text);

/* A plain SQL identifier, ^[a-z_][a-z0-9_]{0,62}$ with nothing after it (no
 * final newline): the only names partmig's policies and commands accept. */
bool ident_is_plain(const char *s);

#endif
