#include "spur_png_decode.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

// libpng's simplified API was not enough to read as Pillow does: it
// composites alpha, converts gamma to sRGB when a gAMA chunk says otherwise,
// and scales 16-bit samples. The full API does only what it is asked to.
// Like libjpeg, libpng reports errors by longjmp, which Swift cannot host.

struct spur_png_error {
    jmp_buf escape;
    char message[200];
};

static void spur_png_error_fn(png_structp png, png_const_charp text) {
    struct spur_png_error *err = png_get_error_ptr(png);
    snprintf(err->message, sizeof err->message, "%s", text);
    longjmp(err->escape, 1);
}

static void spur_png_warning_fn(png_structp png, png_const_charp text) {
    // Warnings concern ancillary chunks, which never change the pixels read
    // here; never write to stderr (it would scribble over the terminal UI).
    (void)png;
    (void)text;
}

static unsigned char *spur_copy(const void *bytes, size_t count) {
    unsigned char *copy = malloc(count > 0 ? count : 1);
    if (copy != NULL) memcpy(copy, bytes, count);
    return copy;
}

static int spur_hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// ImageMagick's "Raw profile type exif": "\nexif\n<length>\n<hex lines>".
// As Pillow reads it: everything after the third newline, hex, whitespace
// ignored. NULL when it is not that.
static unsigned char *spur_raw_profile(const char *text, size_t length, size_t *size) {
    size_t i = 0;
    for (int newlines = 0; i < length && newlines < 3; i++) {
        if (text[i] == '\n') newlines++;
    }
    unsigned char *out = malloc(length / 2 + 1);
    if (out == NULL) return NULL;
    size_t n = 0;
    int high = -1;
    for (; i < length; i++) {
        char c = text[i];
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r') continue;
        int d = spur_hex_digit(c);
        if (d < 0) {
            free(out);
            return NULL;
        }
        if (high < 0) {
            high = d;
        } else {
            out[n++] = (unsigned char)(high * 16 + d);
            high = -1;
        }
    }
    *size = n;
    return out;
}

// The metadata in `info` that decides the orientation, where not found yet.
static void spur_take_metadata(png_structp png, png_infop info, unsigned char **exif, size_t *exif_size,
                               unsigned char **raw, size_t *raw_size, unsigned char **xmp, size_t *xmp_size) {
    png_uint_32 count = 0;
    png_bytep data = NULL;
    if (*exif == NULL && png_get_eXIf_1(png, info, &count, &data) != 0 && data != NULL) {
        *exif = spur_copy(data, count);
        *exif_size = count;
    }
    png_textp texts = NULL;
    int n = 0;
    png_get_text(png, info, &texts, &n);
    for (int i = 0; i < n; i++) {
        const char *key = texts[i].key;
        size_t length = texts[i].compression > 0 ? texts[i].itxt_length : texts[i].text_length;
        if (texts[i].text == NULL) continue;
        if (*xmp == NULL && strcmp(key, "XML:com.adobe.xmp") == 0) {
            *xmp = spur_copy(texts[i].text, length);
            *xmp_size = length;
        } else if (*raw == NULL && strcmp(key, "Raw profile type exif") == 0) {
            *raw = spur_raw_profile(texts[i].text, length, raw_size);
        }
    }
}

// Takes `fd` (a regular file of bounded size the caller checked) as a FILE,
// closed by fclose; NULL with the reason, and `fd` closed, when it cannot.
static FILE *spur_take_fd(int fd, char *message, size_t message_size) {
    FILE *file = fdopen(fd, "rb");
    if (file == NULL) {
        snprintf(message, message_size, "%s", strerror(errno));
        close(fd);
    }
    return file;
}

int spur_png_decode_file(int fd, size_t max_pixels, size_t max_side,
                         unsigned char **pixels, int *width, int *height,
                         unsigned char **exif, size_t *exif_size,
                         unsigned char **xmp, size_t *xmp_size,
                         char *message, size_t message_size) {
    *pixels = NULL;
    *width = 0;
    *height = 0;
    *exif = NULL;
    *exif_size = 0;
    *xmp = NULL;
    *xmp_size = 0;
    if (message_size > 0) message[0] = '\0';

    FILE *file = spur_take_fd(fd, message, message_size);
    if (file == NULL) return 0;

    struct spur_png_error err;
    memset(&err, 0, sizeof err);
    // Assigned after setjmp and read after longjmp: must not live in registers.
    png_structp volatile png = NULL;
    png_infop volatile info = NULL;
    png_infop volatile end_info = NULL;
    unsigned char *volatile out = NULL;
    png_bytepp volatile rows = NULL;
    // Set only after the last call that can longjmp, so need not be volatile.
    unsigned char *found_exif = NULL, *found_raw = NULL, *found_xmp = NULL;
    size_t found_exif_size = 0, found_raw_size = 0, found_xmp_size = 0;
    int ok = 0;

    if (setjmp(err.escape)) {
        // libpng's stdio reader says only this when the file ends early.
        snprintf(message, message_size, "corrupt PNG: %s%s", err.message,
                 strcmp(err.message, "Read Error") == 0 ? " (truncated file?)" : "");
        goto done;
    }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, spur_png_error_fn, spur_png_warning_fn);
    if (png == NULL) {
        snprintf(message, message_size, "out of memory for the PNG decoder");
        goto done;
    }
    info = png_create_info_struct(png);
    end_info = png_create_info_struct(png);
    if (info == NULL || end_info == NULL) {
        snprintf(message, message_size, "out of memory for the PNG decoder");
        goto done;
    }
    png_init_io(png, file);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int bit_depth = 0, color_type = 0;
    png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, NULL, NULL, NULL);
    if (w > max_side || h > max_side) {
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu pixels a side",
                 (unsigned)w, (unsigned)h, max_side);
        goto done;
    }
    if ((size_t)w * h > max_pixels) {
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu",
                 (unsigned)w, (unsigned)h, max_pixels);
        goto done;
    }

    // Pillow opens 16-bit greyscale as mode I;16, whose conversion to RGB
    // clips at 255; every other 16-bit mode keeps the high byte.
    int grey16 = color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16;
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16 && !grey16) png_set_strip_16(png);
    // Also removes the alpha that png_set_palette_to_rgb makes of tRNS.
    png_set_strip_alpha(png);
    if (!grey16 && (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)) {
        png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t stride = (size_t)w * 3;
    size_t expected = grey16 ? (size_t)w * 2 : stride;
    if (png_get_rowbytes(png, info) != expected) {
        snprintf(message, message_size, "corrupt PNG: decoder produced %zu bytes a row, not %zu",
                 (size_t)png_get_rowbytes(png, info), expected);
        goto done;
    }
    out = malloc(stride * h > 0 ? stride * h : 1);
    rows = malloc(sizeof(png_bytep) * (h > 0 ? h : 1));
    if (out == NULL || rows == NULL) {
        snprintf(message, message_size, "out of memory for %ux%u pixels", (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = out + (size_t)y * stride;
    png_read_image(png, rows);
    // Reads on to IEND: a file cut after its pixels is refused too, and
    // metadata written after IDAT (eXIf often is) is seen.
    png_read_end(png, end_info);

    if (grey16) {
        // Right to left, each row widens in place: 2 bytes a pixel into 3.
        for (png_uint_32 y = 0; y < h; y++) {
            unsigned char *row = rows[y];
            for (size_t x = w; x-- > 0;) {
                unsigned v = ((unsigned)row[2 * x] << 8) | row[2 * x + 1];
                unsigned char c = v > 255 ? 255 : (unsigned char)v;
                row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = c;
            }
        }
    }

    spur_take_metadata(png, info, &found_exif, &found_exif_size, &found_raw, &found_raw_size,
                       &found_xmp, &found_xmp_size);
    spur_take_metadata(png, end_info, &found_exif, &found_exif_size, &found_raw, &found_raw_size,
                       &found_xmp, &found_xmp_size);
    if (found_exif == NULL && found_raw != NULL) {
        found_exif = found_raw;
        found_exif_size = found_raw_size;
        found_raw = NULL;
    }
    *pixels = out;
    out = NULL;
    *width = (int)w;
    *height = (int)h;
    *exif = found_exif;
    *exif_size = found_exif_size;
    found_exif = NULL;
    *xmp = found_xmp;
    *xmp_size = found_xmp_size;
    found_xmp = NULL;
    ok = 1;

done:
    if (png != NULL) {
        png_structp p = png;
        png_infop i = info, e = end_info;
        png_destroy_read_struct(&p, i != NULL ? &i : NULL, e != NULL ? &e : NULL);
    }
    free(out);
    free(rows);
    free(found_exif);
    free(found_raw);
    free(found_xmp);
    fclose(file);
    return ok;
}

void spur_png_free(unsigned char *buffer) {
    free(buffer);
}

int spur_png_read_header(int fd, size_t max_pixels, size_t max_side, int *width, int *height,
                         char *message, size_t message_size) {
    *width = 0;
    *height = 0;
    if (message_size > 0) message[0] = '\0';
    FILE *file = spur_take_fd(fd, message, message_size);
    if (file == NULL) return 0;
    struct spur_png_error err;
    memset(&err, 0, sizeof err);
    png_structp volatile png = NULL;
    png_infop volatile info = NULL;
    int ok = 0;
    if (setjmp(err.escape)) {
        snprintf(message, message_size, "corrupt PNG: %s%s", err.message,
                 strcmp(err.message, "Read Error") == 0 ? " (truncated file?)" : "");
        goto done;
    }
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, spur_png_error_fn, spur_png_warning_fn);
    if (png == NULL || (info = png_create_info_struct(png)) == NULL) {
        snprintf(message, message_size, "out of memory for the PNG decoder");
        goto done;
    }
    png_init_io(png, file);
    // Reads the chunks up to the first IDAT: IHDR is validated by libpng
    // (depth, colour type, sizes), the pixels are not touched.
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w > max_side || h > max_side) {
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu pixels a side",
                 (unsigned)w, (unsigned)h, max_side);
    } else if ((size_t)w * h > max_pixels) {
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu",
                 (unsigned)w, (unsigned)h, max_pixels);
    } else {
        *width = (int)w;
        *height = (int)h;
        ok = 1;
    }
done:
    if (png != NULL) {
        png_structp p = png;
        png_infop i = info;
        png_destroy_read_struct(&p, i != NULL ? &i : NULL, NULL);
    }
    fclose(file);
    return ok;
}
