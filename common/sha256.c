/* sha256.c: thin wrapper over OpenSSL EVP for SHA-256. */
#include "sha256.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

static void to_hex(const unsigned char *md, char out[SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[SHA256_HEX_LEN] = '\0';
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL)) {
        fputs("partmig: sha-256 failed in libcrypto\n", stderr);
        abort();
    }
    to_hex(md, out);
}

bool sha256_file_hex(const char *path, char out[SHA256_HEX_LEN + 1])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char chunk[65536];
    size_t n;
    while (ok && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ok = EVP_DigestUpdate(ctx, chunk, n);
    ok = ok && !ferror(f);
    unsigned char md[32];
    unsigned int mdlen = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (ok)
        to_hex(md, out);
    return ok;
}
