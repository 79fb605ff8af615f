/* ycck.jpg for ImageTests: Pillow cannot write YCCK, libjpeg can. The
   pattern is make_images.py's, in CMYK as Pillow's RGB -> CMYK gives it
   (c = 255 - r, m = 255 - g, y = 255 - b, k = 0), stored Adobe-inverted as
   Photoshop does. Build and run: cc make_ycck.c -ljpeg -o make_ycck && ./make_ycck */
#include <stdio.h>
#include <jpeglib.h>

int main(void) {
    enum { W = 7, H = 5 };
    unsigned char rows[H][W * 4];
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            int rgb[3] = {40 * x, 60 * y, 255 - 20 * (x + y)};
            for (int c = 0; c < 3; c++) rows[y][4 * x + c] = (unsigned char)rgb[c];  /* 255 - (255 - v) */
            rows[y][4 * x + 3] = 255;
        }
    }
    FILE *f = fopen("ycck.jpg", "wb");
    if (f == NULL) return 1;
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr err;
    cinfo.err = jpeg_std_error(&err);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = W;
    cinfo.image_height = H;
    cinfo.input_components = 4;
    cinfo.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, JCS_YCCK);  /* writes an Adobe marker, transform 2 */
    jpeg_set_quality(&cinfo, 95, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    for (int y = 0; y < H; y++) {
        JSAMPROW row = rows[y];
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(f);
    return 0;
}
