"""Decoding images into a model's pixel tensors, optionally in worker processes
(decoding, not the encoder, is the bottleneck on a GPU)."""

import sys
import time

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps

from .errors import InputError


def open_rgb(path):
    """The picture upright (its EXIF orientation applied: a phone photo stored
    sideways is seen as taken) in RGB, transparency ignored, as spurscope's
    Swift reader gives it."""
    with Image.open(path) as img:
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    # convert("RGB") keeps a tRNS colour key (grey, RGB, or a palette's one
    # transparent entry) as info["transparency"], and transformers'
    # convert_to_rgb would then paint every pixel of that colour white.
    rgb.info.pop("transparency", None)
    return rgb


def upright_size(img):
    """(width, height) of an opened image once its EXIF orientation is
    applied, without decoding it."""
    w, h = img.size
    return (h, w) if img.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8) else (w, h)


def model_view(processor, rgb):
    """The image as the model sees it -- resized and center-cropped by the
    processor, before rescaling and normalisation -- as uint8 [h, w, 3]."""
    pixels = processor(images=rgb, do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"][0]
    return np.clip(np.rint(pixels.transpose(1, 2, 0)), 0, 255).astype(np.uint8)


class _Decoded(torch.utils.data.Dataset):
    def __init__(self, paths, processor, views):
        self.paths, self.processor, self.views = paths, processor, views

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        # Errors travel as text: a worker's exception cannot carry InputError's fields.
        try:
            rgb = open_rgb(self.paths[i])
            size = rgb.size
            pixels = self.processor(images=rgb, return_tensors="np")["pixel_values"][0]
            view = model_view(self.processor, rgb) if self.views else None
            return i, torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)), (size, view), None
        except Exception as e:   # noqa: BLE001 -- reported with the file's name below
            return i, None, None, str(e)


def _collate(items):
    return items


def batches(paths, processor, batch_size, workers=0, views=False):
    """Yields (first index, pixel_values [B,3,h,w], [((w, h), view or None)]) in order."""
    loader = torch.utils.data.DataLoader(_Decoded(paths, processor, views), batch_size=batch_size, shuffle=False,
                                         num_workers=workers, collate_fn=_collate)
    for items in loader:
        for i, pixels, _, error in items:
            if error is not None:
                raise InputError(paths[i], f"cannot be read as an image: {error}")
        yield items[0][0], torch.stack([p for _, p, _, _ in items]), [s for *_, s, _ in items]


class Progress:
    """One line on stderr, rewritten in place on a terminal."""

    def __init__(self, what, total, quiet=False):
        self.what, self.total, self.done, self.quiet = what, total, 0, quiet
        self.start = self.last = time.monotonic()

    def advance(self, n):
        self.done += n
        now = time.monotonic()
        if self.quiet or (now - self.last < 2 and self.done < self.total):
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        end = "\n" if self.done >= self.total or not sys.stderr.isatty() else "\r"
        sys.stderr.write(f"  {self.what} {self.done}/{self.total} ({rate:.1f}/s){' ' * 8}{end}")
        sys.stderr.flush()
