#include <png.h>

// Function-like macros of the simplified API, which Swift cannot import.
static inline size_t spur_png_image_size(png_image image) { return PNG_IMAGE_SIZE(image); }
static inline unsigned spur_png_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline unsigned spur_png_format_rgb(void) { return PNG_FORMAT_RGB; }
