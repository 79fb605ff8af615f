"""Small images for ImageTests, written by Pillow (an independent encoder) or,
where Pillow cannot (16-bit RGB, absurd dimensions), by the hand-rolled PNG
chunk writer below. Every image is 7x5 pixels of the pattern `pattern(x, y)`,
which ImageTests.swift repeats, so lossless formats can be checked exactly.
Re-run with: python3 make_images.py   (needs `pip install pillow`)"""
import struct
import zlib

from PIL import Image

W, H = 7, 5


def pattern(x, y):
    return (40 * x, 60 * y, 255 - 20 * (x + y))


def grey(x, y):
    return 20 * x + 30 * y + 10


def alpha(y):
    # Opaque, transparent, half, opaque, opaque: rows 1 and 2 exercise compositing.
    return [255, 0, 128, 255, 255][y]


PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 200, 10)]


def rgb_image(mode="RGB"):
    im = Image.new(mode, (W, H))
    for y in range(H):
        for x in range(W):
            im.putpixel((x, y), pattern(x, y) + ((alpha(y),) if mode == "RGBA" else ()))
    return im


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, bit_depth, colour_type, raw_rows):
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in raw_rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write(name, data):
    with open(name, "wb") as f:
        f.write(data)


# Lossless: exact pixels expected.
rgb_image().save("rgb.png")
rgb_image("RGBA").save("rgba.png")
gray = Image.new("L", (W, H))
for y in range(H):
    for x in range(W):
        gray.putpixel((x, y), grey(x, y))
gray.save("gray.png")
pal = Image.new("P", (W, H))
pal.putpalette([c for rgb in PALETTE for c in rgb])
for y in range(H):
    for x in range(W):
        pal.putpixel((x, y), (x + y) % len(PALETTE))
pal.save("palette.png")
# 16-bit samples are v * 257, the exact 16-bit spelling of the 8-bit value v,
# so any reduction that does not treat them as linear light gives v back.
g16 = Image.new("I;16", (W, H))
for y in range(H):
    for x in range(W):
        g16.putpixel((x, y), grey(x, y) * 257)
g16.save("gray16.png")
write("rgb16.png", png(W, H, 16, 2, [
    b"".join(struct.pack(">HHH", *(c * 257 for c in pattern(x, y))) for x in range(W))
    for y in range(H)]))

# Lossy: pixels within a tolerance of the pattern.
rgb_image().save("baseline.jpg", quality=95, subsampling=0)  # 4:4:4
rgb_image().save("progressive.jpg", quality=95, progressive=True)  # 4:2:0
# 4:2:0 blurs this steep pattern's colours by up to 43, too much for a useful
# tolerance, so the reference is Pillow's own decoding (libjpeg-turbo too).
write("progressive.expected.rgb", Image.open("progressive.jpg").convert("RGB").tobytes())
gray.save("gray.jpg", quality=95)
rgb_image().convert("CMYK").save("cmyk.jpg", quality=95)

# Broken.
data = open("rgb.png", "rb").read()
write("truncated.png", data[: len(data) // 2])
idat = data.index(b"IDAT")
idat_length = struct.unpack(">I", data[idat - 4: idat])[0]
flipped = bytearray(data)
# libpng inflates a chunk before checking its CRC, so a flipped data byte is
# caught by zlib (here by its Adler-32 check), and only a flipped CRC byte
# gives a CRC error.
flipped[idat + 4 + idat_length // 2] ^= 0xFF
write("idat-flipped.png", bytes(flipped))
flipped = bytearray(data)
flipped[idat + 4 + idat_length] ^= 0xFF
write("crc-error.png", bytes(flipped))
jpeg = open("baseline.jpg", "rb").read()
sos = jpeg.index(b"\xff\xda")
# Cut in the middle of the entropy-coded data, the case where libjpeg pads
# the missing rows with grey and only warns.
write("truncated.jpg", jpeg[: sos + (len(jpeg) - sos) // 2])
write("text.png", b"this is a text file, renamed .png\n")
write("empty.png", b"")
# Headers claiming absurd sizes, with hardly any data behind them.
write("huge.png", png(20000, 20000, 8, 2, [b"\x00" * 3]))
sof = jpeg.index(b"\xff\xc0")
huge = bytearray(jpeg)
huge[sof + 5: sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
write("huge.jpg", bytes(huge))

# Pillow's own decodings of the CMYK files, the reference for ours (both
# libjpeg-turbo; Pillow reads CMYK JPEGs as Adobe-inverted). ycck.jpg is
# written by make_ycck.c: Pillow cannot write YCCK.
write("cmyk.expected.rgb", Image.open("cmyk.jpg").convert("RGB").tobytes())
write("ycck.expected.rgb", Image.open("ycck.jpg").convert("RGB").tobytes())
