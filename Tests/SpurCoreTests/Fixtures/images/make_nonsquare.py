"""Non-square JPEG photos and masks (issue 12: real images are rarely square),
written by Pillow. Each is `scene(w, h)`: a horizontal gradient with a bright
box, the "object", over columns [w/4, w/2) and rows [h/3, 2h/3); its mask is
white on the box (greyscale JPEG, so the reader's grey path is used too).
The PNG twins are written by the tests themselves (ImageFile.writePNG).
Re-run with: python3 make_nonsquare.py   (needs `pip install pillow`)"""
from PIL import Image

SIZES = [(500, 375), (375, 500), (64, 48)]


def inside(x, y, w, h):
    return w // 4 <= x < w // 2 and h // 3 <= y < 2 * h // 3


def scene(w, h):
    data = bytearray()
    for y in range(h):
        for x in range(w):
            if inside(x, y, w, h):
                data += bytes((240, 220, 40))
            else:
                data += bytes((30 + 150 * x // w, 90, 160 - 100 * y // h))
    return Image.frombytes("RGB", (w, h), bytes(data))


def mask(w, h):
    return Image.frombytes("L", (w, h), bytes(255 if inside(x, y, w, h) else 0 for y in range(h) for x in range(w)))


for w, h in SIZES:
    scene(w, h).save(f"scene-{w}x{h}.jpg", quality=85)
    mask(w, h).save(f"mask-{w}x{h}.jpg", quality=90)
