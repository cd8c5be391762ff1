/* shown.h: the SQL the runtime runs for a step whose statements depend on
 * the database (convert, premake, build_index, register), written into the
 * step's comment as a "the runtime runs:" block -- commented, so the file
 * stays executable as is by psql -- with the values only the database
 * supplies as named placeholders (:lower_bound, :id, :partition, ...). */
#ifndef PARTMIG_SHOWN_H
#define PARTMIG_SHOWN_H

#include "../common/buf.h"
#include "../model/policy.h"

/* The placeholders the blocks use, one line each, for the file's header. */
extern const char shown_legend[];

/* Each function appends a blank line, a "the runtime runs ...:" line and the
 * statements (two spaces in) to OUT: comment text without the "-- " that
 * plan_write puts in front of every line. */

/* Converting P's existing plain table (ensure_table without columns):
 * existing.method copy or attach; nothing for method none. */
void shown_conversion(Buf *out, const Policy *p);

/* A premake step: range partitions from the start or the oldest row through
 * now + premake; list partitions and DEFAULT (a relayout) by name. */
void shown_premake(Buf *out, const Policy *p);

/* A build_index step for index NAME (IX) of P. */
void shown_build_index(Buf *out, const Policy *p, const IndexSpec *ix, const char *name);

/* A register step of QNAME ("schema.table") in migration VERSION. */
void shown_register(Buf *out, const char *qname, int version);

/* An unregister step of QNAME. */
void shown_unregister(Buf *out, const char *qname);

#endif
