#ifndef SPUR_ZLIB_SHIM_H
#define SPUR_ZLIB_SHIM_H
// zlib, for OpenAI's gzipped BPE vocabulary (bpe_simple_vocab_16e6.txt.gz).
#include <zlib.h>
#endif
