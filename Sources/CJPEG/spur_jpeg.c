#include "spur_jpeg.h"
#include <stdio.h>
int spur_jpeg_decode_file(const char *path, unsigned char **pixels, int *width, int *height,
                          char *message, size_t message_size) {
    (void)path; (void)pixels; (void)width; (void)height;
    snprintf(message, message_size, "JPEG decoding not built yet");
    return 0;
}
