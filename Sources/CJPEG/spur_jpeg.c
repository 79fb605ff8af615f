#include "spur_jpeg.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>   // jpeglib.h needs FILE declared first
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>

// libjpeg's default error handler prints and calls exit(); ours jumps back to
// the decode call instead, so a bad file is an error value, not a dead process.
struct spur_error_mgr {
    struct jpeg_error_mgr pub;  // first, so the j_common_ptr's err casts to us
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
};

static void spur_error_exit(j_common_ptr cinfo) {
    struct spur_error_mgr *err = (struct spur_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->escape, 1);
}

// Warnings after which the pixels are not the file's pixels: on a truncated
// file libjpeg pads the rest with grey and only warns. JPEG has no checksum,
// so this is all the corruption we can notice. Not listed, and so accepted:
// JWRN_EXTRANEOUS_DATA (junk between segments, common in camera files, skipped
// without touching the image), JWRN_JFIF_MAJOR, JWRN_ADOBE_XFORM and
// JWRN_BOGUS_ICC (metadata only).
static int spur_loses_data(int code) {
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_NOT_SEQUENTIAL:
        return 1;
    default:
        return 0;
    }
}

static void spur_emit_message(j_common_ptr cinfo, int msg_level) {
    // msg_level >= 0 is tracing, wanted only by debugging tools.
    if (msg_level >= 0) return;
    cinfo->err->num_warnings++;
    if (spur_loses_data(cinfo->err->msg_code)) spur_error_exit(cinfo);
}

static void spur_output_message(j_common_ptr cinfo) {
    (void)cinfo;  // never write to stderr: it would scribble over the terminal UI
}

// The error manager of every libjpeg object here: errors, and warnings that
// lose data, longjmp to `escape` with their text in `message`. The setjmp
// itself must stay in the function that owns the object.
static struct jpeg_error_mgr *spur_errors(struct spur_error_mgr *err) {
    memset(err, 0, sizeof *err);
    struct jpeg_error_mgr *pub = jpeg_std_error(&err->pub);
    err->pub.error_exit = spur_error_exit;
    err->pub.emit_message = spur_emit_message;
    err->pub.output_message = spur_output_message;
    return pub;
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

static unsigned char *spur_append(unsigned char *buffer, size_t *size, const unsigned char *bytes, size_t count) {
    unsigned char *grown = realloc(buffer, *size + count + 1);
    if (grown == NULL) return buffer;
    memcpy(grown + *size, bytes, count);
    *size += count;
    return grown;
}

static const char spur_xmp_namespace[] = "http://ns.adobe.com/xap/1.0/";

// The APP1 segments Pillow reads the orientation from: the first Exif one
// (later ones appended without their header, as Pillow does) and the last
// XMP one (its packet, after the namespace's NUL).
static void spur_take_metadata(j_decompress_ptr cinfo, unsigned char **exif, size_t *exif_size,
                               unsigned char **xmp, size_t *xmp_size) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
        if (m->marker != JPEG_APP0 + 1) continue;
        if (m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            size_t skip = *exif == NULL ? 0 : 6;
            *exif = spur_append(*exif, exif_size, m->data + skip, m->data_length - skip);
        } else if (m->data_length > sizeof spur_xmp_namespace
                   && memcmp(m->data, spur_xmp_namespace, sizeof spur_xmp_namespace) == 0) {
            size_t skip = sizeof spur_xmp_namespace;  // with its NUL
            free(*xmp);
            *xmp = NULL;
            *xmp_size = 0;
            *xmp = spur_append(NULL, xmp_size, m->data + skip, m->data_length - skip);
        }
    }
}

// (a * b) / 255, rounded, in Pillow's integer arithmetic.
static unsigned char spur_muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (unsigned char)(((t >> 8) + t) >> 8);
}

int spur_jpeg_decode_file(int fd, size_t max_pixels, size_t max_side,
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

    struct jpeg_decompress_struct cinfo;
    struct spur_error_mgr err;
    memset(&cinfo, 0, sizeof cinfo);
    // Assigned after setjmp and read after longjmp: must not live in a register.
    unsigned char *volatile out = NULL;
    unsigned char *volatile row4 = NULL;
    unsigned char *volatile found_exif = NULL;
    unsigned char *volatile found_xmp = NULL;
    volatile size_t found_exif_size = 0, found_xmp_size = 0;

    cinfo.err = spur_errors(&err);

    if (setjmp(err.escape)) {
        snprintf(message, message_size, "corrupt JPEG: %s", err.message);
        jpeg_destroy_decompress(&cinfo);
        free(out);
        free(row4);
        free(found_exif);
        free(found_xmp);
        fclose(file);
        return 0;
    }

    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, file);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    int ok = 0;
    // libjpeg turns YCCK into CMYK itself; the CMYK to RGB step is Pillow's.
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (!cmyk && cinfo.num_components != 1 && cinfo.num_components != 3) {
        // Greyscale, YCbCr/RGB and CMYK/YCCK are what files use; anything
        // else is a colour space we would only guess at.
        snprintf(message, message_size, "JPEG has %d colour components, expected 1, 3 or 4 (CMYK)",
                 cinfo.num_components);
    } else if (cinfo.image_width > max_side || cinfo.image_height > max_side) {
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu pixels a side",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, max_side);
    } else if ((size_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        // Checked before jpeg_start_decompress, which is where libjpeg
        // allocates whole-image buffers for progressive files.
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, max_pixels);
    } else {
        // JCS_RGB also converts greyscale. Pillow decodes with libjpeg's
        // defaults otherwise (JDCT_ISLOW, fancy upsampling), and so do we.
        cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
        jpeg_start_decompress(&cinfo);
        size_t stride = (size_t)cinfo.output_width * 3;
        int channels = cmyk ? 4 : 3;
        if (cinfo.output_components != channels) {
            snprintf(message, message_size, "corrupt JPEG: decoder produced %d channels, not %d",
                     cinfo.output_components, channels);
        } else if ((out = malloc(stride * cinfo.output_height)) == NULL
                   || (cmyk && (row4 = malloc((size_t)cinfo.output_width * 4)) == NULL)) {
            snprintf(message, message_size, "out of memory for %ux%u pixels",
                     (unsigned)cinfo.output_width, (unsigned)cinfo.output_height);
        } else {
            while (cinfo.output_scanline < cinfo.output_height) {
                JSAMPROW row = out + (size_t)cinfo.output_scanline * stride;
                if (!cmyk) {
                    jpeg_read_scanlines(&cinfo, &row, 1);
                    continue;
                }
                JSAMPROW source = row4;
                jpeg_read_scanlines(&cinfo, &source, 1);
                // Pillow reads every CMYK JPEG as Adobe's inverted CMYK
                // (mode CMYK;I), so the stored samples s are 255 - ink, and
                // its CMYK to RGB is (255 - ink) * (255 - k) / 255 = s * s_k / 255.
                for (size_t x = 0; x < cinfo.output_width; x++) {
                    const unsigned char *p = row4 + 4 * x;
                    row[3 * x] = spur_muldiv255(p[0], p[3]);
                    row[3 * x + 1] = spur_muldiv255(p[1], p[3]);
                    row[3 * x + 2] = spur_muldiv255(p[2], p[3]);
                }
            }
            // Before jpeg_finish_decompress, which frees the saved markers.
            unsigned char *e = NULL, *x = NULL;
            size_t es = 0, xs = 0;
            spur_take_metadata(&cinfo, &e, &es, &x, &xs);
            found_exif = e;
            found_exif_size = es;
            found_xmp = x;
            found_xmp_size = xs;
            // Reads on to EOI, so a file cut anywhere, even just before EOI,
            // is refused: a partial file is never passed off as the image.
            jpeg_finish_decompress(&cinfo);
            *pixels = out;
            *width = (int)cinfo.output_width;
            *height = (int)cinfo.output_height;
            *exif = found_exif;
            *exif_size = found_exif_size;
            *xmp = found_xmp;
            *xmp_size = found_xmp_size;
            ok = 1;
        }
    }
    if (!ok) {
        free(out);
        free(found_exif);
        free(found_xmp);
    }
    free(row4);
    jpeg_destroy_decompress(&cinfo);
    fclose(file);
    return ok;
}

int spur_jpeg_encode_file(const char *path, const unsigned char *pixels, int width, int height, int components,
                          int quality, const unsigned char *app1, size_t app1_size,
                          char *message, size_t message_size) {
    if (message_size > 0) message[0] = '\0';
    if (width <= 0 || height <= 0 || (components != 1 && components != 3)) {
        snprintf(message, message_size, "cannot encode a %dx%d JPEG with %d components (expected 1 or 3)",
                 width, height, components);
        return 0;
    }
    FILE *volatile file = fopen(path, "wb");
    if (file == NULL) {
        snprintf(message, message_size, "%s", strerror(errno));
        return 0;
    }
    struct jpeg_compress_struct cinfo;
    struct spur_error_mgr err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = spur_errors(&err);
    if (setjmp(err.escape)) {
        snprintf(message, message_size, "cannot encode JPEG: %s", err.message);
        jpeg_destroy_compress(&cinfo);
        fclose(file);
        return 0;
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, file);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    // APP1 goes right after the JFIF APP0 that jpeg_start_compress wrote,
    // where cameras put their Exif segment.
    if (app1 != NULL && app1_size > 0) jpeg_write_marker(&cinfo, JPEG_APP0 + 1, app1, (unsigned)app1_size);
    size_t stride = (size_t)width * (size_t)components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    if (fclose(file) != 0) {
        snprintf(message, message_size, "%s", strerror(errno));
        return 0;
    }
    return 1;
}

void spur_jpeg_free(unsigned char *pixels) {
    free(pixels);
}

int spur_jpeg_read_header(int fd, size_t max_pixels, size_t max_side, int *width, int *height,
                          char *message, size_t message_size) {
    *width = 0;
    *height = 0;
    if (message_size > 0) message[0] = '\0';
    FILE *file = spur_take_fd(fd, message, message_size);
    if (file == NULL) return 0;
    struct jpeg_decompress_struct cinfo;
    struct spur_error_mgr err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = spur_errors(&err);
    if (setjmp(err.escape)) {
        snprintf(message, message_size, "corrupt JPEG: %s", err.message);
        jpeg_destroy_decompress(&cinfo);
        fclose(file);
        return 0;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, file);
    // Reads the markers up to the first scan (SOF included), not the pixels.
    jpeg_read_header(&cinfo, TRUE);
    int ok = 0;
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (!cmyk && cinfo.num_components != 1 && cinfo.num_components != 3) {
        snprintf(message, message_size, "JPEG has %d colour components, expected 1, 3 or 4 (CMYK)", cinfo.num_components);
    } else if (cinfo.image_width > max_side || cinfo.image_height > max_side) {
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu pixels a side",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, max_side);
    } else if ((size_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        snprintf(message, message_size, "image is %ux%u pixels, over the limit of %zu",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, max_pixels);
    } else {
        *width = (int)cinfo.image_width;
        *height = (int)cinfo.image_height;
        ok = 1;
    }
    jpeg_destroy_decompress(&cinfo);
    fclose(file);
    return ok;
}
