#ifndef SPUR_JPEG_H
#define SPUR_JPEG_H
#include <stddef.h>

/// Large enough for any message this decoder writes (libjpeg's own are at
/// most JMSG_LENGTH_MAX = 200 bytes, plus a short prefix).
#define SPUR_JPEG_MESSAGE_SIZE 256

/// Decodes the JPEG file open at `fd` (closed before returning) to 8-bit RGB, row-major, 3 bytes a pixel,
/// as Pillow's `Image.open(path).convert("RGB")` does: the same libjpeg
/// defaults, greyscale replicated, CMYK and YCCK read as Adobe's inverted
/// CMYK and converted with Pillow's integer formula.
///
/// Returns 1 on success: `*pixels` then holds width*height*3 bytes; `*exif`
/// the Exif APP1 data (from its "Exif\0\0" header on), `*xmp` the XMP
/// packet, each NULL when absent. All three are released with
/// `spur_jpeg_free`. Returns 0 on failure, with every output NULL and a
/// complete, human-readable reason in `message` (never printed, never
/// exits the process):
///   "<strerror>"  (as the other readers in SpurCore say it)
///   "corrupt JPEG: <libjpeg's message>"  (errors, and warnings that mean
///       image data was lost, such as "Premature end of JPEG file")
///   "JPEG has N colour components, expected 1, 3 or 4 (CMYK)"
///   "image is WxH pixels, over the limit of N pixels a side"  (checked before allocating)
///   "image is WxH pixels, over the limit of N"  (checked before allocating)
int spur_jpeg_decode_file(int fd, size_t max_pixels, size_t max_side,
                          unsigned char **pixels, int *width, int *height,
                          unsigned char **exif, size_t *exif_size,
                          unsigned char **xmp, size_t *xmp_size,
                          char *message, size_t message_size);

/// Releases a buffer returned by `spur_jpeg_decode_file` (NULL is allowed).
void spur_jpeg_free(unsigned char *pixels);

/// Encodes `pixels` (row-major, `components` bytes a pixel: 1 for
/// greyscale, 3 for RGB) as a baseline JPEG at libjpeg's `quality`
/// (0–100) into the file at `path`, with `app1` (e.g. "Exif\0\0" and a
/// TIFF block) as an APP1 segment after the JFIF header when it is not
/// NULL. For making photo-like test and benchmark data. Returns 1 on
/// success; 0 with a reason in `message` otherwise (the file may then be
/// left partly written).
int spur_jpeg_encode_file(const char *path, const unsigned char *pixels, int width, int height, int components,
                          int quality, const unsigned char *app1, size_t app1_size,
                          char *message, size_t message_size);

/// Reads only the header of the JPEG file open at `fd` (closed before
/// returning): its size, checked against the same limits as a decode, and
/// (JPEG) its colour components. No pixel memory is allocated. Returns 1
/// when the header is sound; 0 with the decoder's words in `message`.
int spur_jpeg_read_header(int fd, size_t max_pixels, size_t max_side, int *width, int *height,
                              char *message, size_t message_size);
#endif
