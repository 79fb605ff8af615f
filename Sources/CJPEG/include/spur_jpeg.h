#ifndef SPUR_JPEG_H
#define SPUR_JPEG_H
#include <stddef.h>

/// Large enough for any message this decoder writes (libjpeg's own are at
/// most JMSG_LENGTH_MAX = 200 bytes, plus a short prefix).
#define SPUR_JPEG_MESSAGE_SIZE 256

/// Decodes the JPEG file at `path` to 8-bit RGB, row-major, 3 bytes a pixel.
///
/// Returns 1 on success: `*pixels` then holds width*height*3 bytes, to be
/// released with `spur_jpeg_free`. Returns 0 on failure, with `*pixels` NULL
/// and a complete, human-readable reason in `message` (never printed, never
/// exits the process):
///   "<strerror>"  (as the other readers in SpurCore say it)
///   "corrupt JPEG: <libjpeg's message>"  (errors, and warnings that mean
///       image data was lost, such as "Premature end of JPEG file")
///   "CMYK JPEG is not supported"
///   "JPEG has N colour components, expected 1 or 3"
///   "image is WxH pixels, over the limit of N pixels a side"  (checked before allocating)
///   "image is WxH pixels, over the limit of N"  (checked before allocating)
int spur_jpeg_decode_file(const char *path, size_t max_pixels, size_t max_side,
                          unsigned char **pixels, int *width, int *height,
                          char *message, size_t message_size);

/// Releases pixels returned by `spur_jpeg_decode_file` (NULL is allowed).
void spur_jpeg_free(unsigned char *pixels);
#endif
