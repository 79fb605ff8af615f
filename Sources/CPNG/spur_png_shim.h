#include <png.h>

// Function-like macros of the simplified API, which Swift cannot import.
static inline size_t spur_png_image_size(png_image image) { return PNG_IMAGE_SIZE(image); }
static inline unsigned spur_png_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline unsigned spur_png_format_rgb(void) { return PNG_FORMAT_RGB; }
/// An upper bound on the encoded size, so a PNG is compressed once into a
/// buffer of this size rather than once to measure and once to write.
static inline size_t spur_png_encoded_size_max(png_image image) { return PNG_IMAGE_PNG_SIZE_MAX(image); }
