/* sql_files.h: the SQL files of sql/, embedded in the binary at build time
 * (cmake/embed_sql.cmake writes them into a generated C source). */
#ifndef PARTMIG_SQL_FILES_H
#define PARTMIG_SQL_FILES_H

/* The version in sql/ledger.sql's header ("-- partmig sql_version: N"),
 * which ledger_ensure stores in partmig.meta under 'sql_version'. */
extern const char sql_files_version[];

/* sql/ledger.sql: every ledger table, idempotent. */
extern const char sql_file_ledger[];

/* sql/conversion.sql: the conversion's functions, CREATE OR REPLACE. */
extern const char sql_file_conversion[];

#endif
