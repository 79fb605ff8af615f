#include <malloc.h>

// glibc's mallopt parameters are macros; Swift imports them only as plain constants.
static inline int spur_keep_freed_blocks_in_heap(void) {
    return mallopt(M_MMAP_THRESHOLD, 1 << 30) && mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
}
