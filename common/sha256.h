/* sha256.h: SHA-256 as lowercase hex, from OpenSSL's libcrypto. */
#ifndef PARTMIG_SHA256_H
#define PARTMIG_SHA256_H

#include <stdbool.h>
#include <stddef.h>

#define SHA256_HEX_LEN 64

/* OUT receives 64 hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

/* Hash of a whole file; false (errno set) when it cannot be read. */
bool sha256_file_hex(const char *path, char out[SHA256_HEX_LEN + 1]);

#endif
