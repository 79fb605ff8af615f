#include <malloc.h>

// <malloc.h> is not part of Swift's Glibc module, hence this module. Blocks up
// to 1 GiB come from the heap and freed memory is never trimmed back to the
// kernel (`spurscope synth` only: it frees and reallocates the same sizes every step).
static inline int spur_keep_freed_blocks_in_heap(void) {
    return mallopt(M_MMAP_THRESHOLD, 1 << 30) && mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
