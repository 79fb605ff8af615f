"""How the extractor reads pictures: EXIF orientation (a phone photo stored
sideways, orientation 6, is seen upright, in its features, its view, its mask
and its box) and transparency (ignored, as spurscope's reader ignores it)."""

import io

import numpy as np
import pytest
from PIL import Image
from transformers import CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from spurscope_extract import clip, images

ORIENTATION = 0x0112


def photo(w, h, seed=0):
    """Gradients, noise and a hard edge: no symmetry a turn could hide."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([255 * x / w, 255 * y / h, 128 + 100 * np.sin(x / 17.0 + y / 29.0)], -1)
    rgb[h // 5: h // 2, w // 7: w // 3] = (250, 30, 20)
    return Image.fromarray(np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A JPEG stored sideways with orientation 6 (turn clockwise to view),
    and the same pixels upright in a PNG: lossless, so features must agree."""
    d = tmp_path_factory.mktemp("orientation")
    upright = photo(200, 150)
    stored = upright.transpose(Image.Transpose.ROTATE_90)   # a quarter turn counterclockwise
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    sideways = d / "sideways.jpg"
    stored.save(sideways, quality=95, exif=exif.tobytes())
    plain = d / "upright.png"
    with Image.open(sideways) as img:
        assert img.size == (150, 200)
        img.convert("RGB").transpose(Image.Transpose.ROTATE_270).save(plain)
    return sideways, plain


def test_sideways_jpeg_gives_the_upright_features(clip_dir, pair):
    sideways, plain = pair
    model = CLIPModel.from_pretrained(clip_dir).eval()
    processor = CLIPImageProcessorPil.from_pretrained(clip_dir)
    (_, pixels, decoded), = list(images.batches([str(sideways), str(plain)], processor, batch_size=2, views=True))
    assert [size for size, _ in decoded] == [(200, 150), (200, 150)]
    np.testing.assert_array_equal(decoded[0][1], decoded[1][1])   # the model's views
    pooled, tail = clip.encode_images(model, pixels)
    np.testing.assert_allclose(pooled[0], pooled[1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(tail[0], tail[1], rtol=0, atol=1e-6)
    # Read as stored, the picture would give other features: the test can fail.
    with Image.open(sideways) as img:
        stored = processor(images=img.convert("RGB"), return_tensors="pt")["pixel_values"]
    pooled_stored, _ = clip.encode_images(model, stored)
    assert np.abs(pooled_stored[0] - pooled[1]).max() > 1e-3


def test_boxes_and_masks_are_upright(clip_dir, pair, tmp_path):
    sideways, _ = pair
    processor = CLIPImageProcessorPil.from_pretrained(clip_dir)
    with Image.open(sideways) as img:
        assert images.upright_size(img) == (200, 150)
        # The box of the red patch in the upright picture lands where the upright picture's would.
        assert clip.crop_box("28 30 66 75", images.upright_size(img), processor) == \
            clip.crop_box("28 30 66 75", (200, 150), processor)
    mask = tmp_path / "mask.jpg"
    stored = Image.new("L", (150, 200), 0)
    stored.paste(255, (0, 0, 40, 200))   # the left strip, stored: the top strip, upright
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=100, exif=exif.tobytes())
    mask.write_bytes(buffer.getvalue())
    rgb = np.asarray(images.open_rgb(mask))
    assert rgb.shape == (150, 200, 3)
    assert rgb[:30].mean() > 250 and rgb[50:].mean() < 5


def test_a_transparent_colour_key_is_ignored(clip_dir, tmp_path):
    """A grey PNG with tRNS: transformers would paint the key colour white
    if the RGB picture still carried it."""
    processor = CLIPImageProcessorPil.from_pretrained(clip_dir)
    grey = Image.fromarray((np.arange(96 * 80) % 256).reshape(80, 96).astype(np.uint8))
    path = tmp_path / "keyed.png"
    grey.save(path, transparency=128)
    (_, pixels, _), = list(images.batches([str(path)], processor, batch_size=1))
    plain = processor(images=grey.convert("RGB"), return_tensors="pt")["pixel_values"]
    np.testing.assert_array_equal(pixels.numpy(), plain.numpy())
    with Image.open(path) as img:
        keyed = processor(images=img.convert("RGB"), return_tensors="pt")["pixel_values"]
    assert np.abs(keyed.numpy() - plain.numpy()).max() > 0.1
