#ifndef SPUR_PNG_DECODE_H
#define SPUR_PNG_DECODE_H
#include <stddef.h>

/// Large enough for any message this decoder writes (libpng's own are short).
#define SPUR_PNG_MESSAGE_SIZE 256

/// Decodes the PNG file open at `fd` (closed before returning) to 8-bit RGB, row-major, 3 bytes a pixel,
/// sample for sample as Pillow's `Image.open(path).convert("RGB")`:
///   - alpha (a channel or tRNS) is dropped, never composited;
///   - no gamma, sRGB or ICC processing (Pillow applies none);
///   - palettes are looked up, 1/2/4-bit greyscale scaled to 0...255;
///   - 16-bit RGB, RGBA and grey+alpha keep each sample's high byte;
///   - 16-bit greyscale (Pillow's mode I;16) is clipped to 255, not scaled.
///
/// Returns 1 on success: `*pixels` then holds width*height*3 bytes. `*exif`
/// receives the eXIf chunk (or the TIFF data of an ImageMagick "Raw profile
/// type exif" text chunk when there is no eXIf), `*xmp` the
/// "XML:com.adobe.xmp" text: each NULL when absent. All three are released
/// with `spur_png_free`. Returns 0 on failure, every output NULL and a
/// complete reason in `message` (never printed):
///   "<strerror>", "corrupt PNG: <libpng's message>",
///   "image is WxH pixels, over the limit of N pixels a side",
///   "image is WxH pixels, over the limit of N"  (both before allocating)
int spur_png_decode_file(int fd, size_t max_pixels, size_t max_side,
                         unsigned char **pixels, int *width, int *height,
                         unsigned char **exif, size_t *exif_size,
                         unsigned char **xmp, size_t *xmp_size,
                         char *message, size_t message_size);

/// Releases a buffer returned by `spur_png_decode_file` (NULL is allowed).
void spur_png_free(unsigned char *buffer);
/// Reads only the header of the PNG file open at `fd` (closed before
/// returning): its size, checked against the same limits as a decode, and
/// (JPEG) its colour components. No pixel memory is allocated. Returns 1
/// when the header is sound; 0 with the decoder's words in `message`.
int spur_png_read_header(int fd, size_t max_pixels, size_t max_side, int *width, int *height,
                              char *message, size_t message_size);
#endif
