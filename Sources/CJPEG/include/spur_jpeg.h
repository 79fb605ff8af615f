#ifndef SPUR_JPEG_H
#define SPUR_JPEG_H
#include <stddef.h>

/// Decodes a JPEG file to 8-bit RGB (placeholder; implemented in spur_jpeg.c).
int spur_jpeg_decode_file(const char *path, unsigned char **pixels, int *width, int *height,
                          char *message, size_t message_size);
#endif
