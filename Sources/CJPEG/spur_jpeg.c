#include "spur_jpeg.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>   // jpeglib.h needs FILE declared first
#include <stdlib.h>
#include <string.h>

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

int spur_jpeg_decode_file(const char *path, size_t max_pixels, size_t max_side,
                          unsigned char **pixels, int *width, int *height,
                          char *message, size_t message_size) {
    *pixels = NULL;
    *width = 0;
    *height = 0;
    if (message_size > 0) message[0] = '\0';

    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(message, message_size, "%s", strerror(errno));
        return 0;
    }

    struct jpeg_decompress_struct cinfo;
    struct spur_error_mgr err;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    // Assigned after setjmp and read after longjmp: must not live in a register.
    unsigned char *volatile out = NULL;

    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = spur_error_exit;
    err.pub.emit_message = spur_emit_message;
    err.pub.output_message = spur_output_message;

    if (setjmp(err.escape)) {
        snprintf(message, message_size, "corrupt JPEG: %s", err.message);
        jpeg_destroy_decompress(&cinfo);
        free(out);
        fclose(file);
        return 0;
    }

    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, file);
    jpeg_read_header(&cinfo, TRUE);

    int ok = 0;
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        // libjpeg-turbo has no CMYK -> RGB conversion, and doing it well
        // needs the ICC profile such files usually carry.
        snprintf(message, message_size, "CMYK JPEG is not supported");
    } else if (cinfo.num_components != 1 && cinfo.num_components != 3) {
        // Greyscale and YCbCr/RGB are what photos use; anything else is a
        // colour space we would only guess at.
        snprintf(message, message_size, "JPEG has %d colour components, expected 1 or 3",
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
        cinfo.out_color_space = JCS_RGB;  // also converts greyscale
        jpeg_start_decompress(&cinfo);
        size_t stride = (size_t)cinfo.output_width * 3;
        if (cinfo.output_components != 3) {
            snprintf(message, message_size, "corrupt JPEG: decoder produced %d channels, not 3",
                     cinfo.output_components);
        } else if ((out = malloc(stride * cinfo.output_height)) == NULL) {
            snprintf(message, message_size, "out of memory for %ux%u pixels",
                     (unsigned)cinfo.output_width, (unsigned)cinfo.output_height);
        } else {
            while (cinfo.output_scanline < cinfo.output_height) {
                JSAMPROW row = out + (size_t)cinfo.output_scanline * stride;
                jpeg_read_scanlines(&cinfo, &row, 1);
            }
            // Reads on to EOI, so a file cut anywhere, even just before EOI,
            // is refused: a partial file is never passed off as the image.
            jpeg_finish_decompress(&cinfo);
            *pixels = out;
            *width = (int)cinfo.output_width;
            *height = (int)cinfo.output_height;
            ok = 1;
        }
    }
    jpeg_destroy_decompress(&cinfo);
    fclose(file);
    return ok;
}

void spur_jpeg_free(unsigned char *pixels) {
    free(pixels);
}
