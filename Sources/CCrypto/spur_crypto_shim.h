#ifndef SPUR_CRYPTO_SHIM_H
#define SPUR_CRYPTO_SHIM_H
// OpenSSL's libcrypto, for SHA-256 digests of checkpoint files.
#include <openssl/evp.h>
#endif
