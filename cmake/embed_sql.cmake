# embed_sql.cmake: write the SQL files into a C source as byte arrays, so
# the binary carries them (run by the build: cmake -DOUT=file.c
# -DSQL_DIR=dir -P embed_sql.cmake).  Each sql/NAME.sql becomes
# "const char sql_file_NAME[]" (NUL-terminated); the version in
# ledger.sql's header ("-- partmig sql_version: N") becomes
# "const char sql_files_version[]".  No xxd: file(READ ... HEX).
foreach(name ledger conversion)
  set(path ${SQL_DIR}/${name}.sql)
  if(NOT EXISTS ${path})
    message(FATAL_ERROR "embed_sql: ${path} is missing")
  endif()
  file(READ ${path} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # 16 bytes per line
  string(REGEX REPLACE "((0x..,){16})" "\\1\n    " bytes "${bytes}")
  string(APPEND body "const char sql_file_${name}[] = {\n    ${bytes}0x00};\n")
endforeach()
file(STRINGS ${SQL_DIR}/ledger.sql header REGEX "^-- partmig sql_version: [0-9]+$")
if(NOT header)
  message(FATAL_ERROR "embed_sql: ${SQL_DIR}/ledger.sql has no \"-- partmig sql_version: N\" line")
endif()
string(REGEX REPLACE "^-- partmig sql_version: ([0-9]+)$" "\\1" version "${header}")
set(text "/* generated from the files in sql/ by cmake/embed_sql.cmake: do not edit */\n#include \"runtime/sql_files.h\"\n\n")
string(APPEND text "const char sql_files_version[] = \"${version}\";\n${body}")
file(WRITE ${OUT} "${text}")
