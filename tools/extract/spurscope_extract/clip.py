"""`clip`: a feature bundle from a Hugging Face CLIP checkpoint (ViT image tower).

What goes in the bundle, for a CLIPModel with vision tower `V` (hidden states
`h_l = V(x).hidden_states[l]`, each `[1 + H·W, Dv]`: the class token, then the
patches in row-major order), its last encoder layer `B =
V.encoder.layers[-1]` and its `post_layernorm` `LN`:

- `image_pooled[i] = LN(h[-1][0])` -- the class token after the last block,
  exactly the vision model's `pooler_output`, so `visual_projection(image_pooled)
  = get_image_features` (`pooling: token`).
- `image_tail_input[i] = h[-2]`, `[1 + H·W, Dv]` -- the tokens *entering* `B`
  (class token first, then the patches row-major), in the `--spatial-dtype`
  (f16 by default). Grad-CAM for CLIP ViTs is taken at `B.layer_norm1`
  (pytorch-grad-cam's CLIP target): spurscope forwards the frozen tail `B`
  then `LN` from these tokens (`image_pooled = LN(B(h[-2]))[0]`) and
  back-propagates the class score through the current heads, so the gradient
  reaches the patches through the last block's attention.
- `cam_tail.safetensors` (its own file, F32) -- the weights of that tail in
  OpenAI's names: `ln_1.*` (`B.layer_norm1`), `attn.in_proj_weight [3Dv, Dv]`
  and `attn.in_proj_bias [3Dv]` (`q_proj`, `k_proj`, `v_proj` stacked in that
  order), `attn.out_proj.*`, `ln_2.*` (`B.layer_norm2`), `mlp.c_fc.*`
  (`B.mlp.fc1`), `mlp.c_proj.*` (`B.mlp.fc2`), `ln_post.*` (`LN`); the
  manifest's `cam_tail` gives the target layer, the number of heads, the MLP's
  activation (`quick_gelu` or `gelu`) and the LayerNorms' epsilon.
- `text_prompts[p] = pooler_output` of the text model (final LayerNorm at the
  end-of-text token), before `text_projection`.
- `W_v = visual_projection.weight [E, Dv]`, `W_t = text_projection.weight
  [E, Dt]`, `logit_scale` = the checkpoint's (log) temperature.

No `image_spatial` is written (the tail input supersedes it). `--no-spatial`
leaves out `image_tail_input`, `cam_tail.safetensors` and the manifest's
`cam_tail`: such a bundle has no Grad-CAM and no AIoU.
"""

import hashlib
import os
import sys

import numpy as np
import torch

from . import bundle, dataset, images, prompts, shards
from .errors import InputError
from .templates import IMAGENET80
from .tensorfile import TensorFileWriter

DEFAULT_VOCABULARY = os.path.join(os.path.dirname(__file__), "vg-objects.txt")


def _require_model_type(name, expected):
    from transformers import AutoConfig
    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise InputError("--model", f"'{name}' cannot be loaded (a Hugging Face model name in the local cache, or a "
                         f"save_pretrained directory): {str(e).splitlines()[0]}")
    if config.model_type != expected:
        raise InputError("--model", f"'{name}' is a {config.model_type} model, expected {expected}")


def load_clip(name, device="cpu"):
    """Model, tokenizer and (PIL) image processor of a CLIP checkpoint."""
    from transformers import AutoTokenizer, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    _require_model_type(name, "clip")
    model = CLIPModel.from_pretrained(name).eval().to(device)
    tokenizer = AutoTokenizer.from_pretrained(name)
    processor = CLIPImageProcessorPil.from_pretrained(name)
    return model, tokenizer, processor


def text_checkpoint(name):
    """The manifest's `text_checkpoint` for a save_pretrained folder with
    model.safetensors (its absolute path, SHA-256, layout), which spurscope
    reads natively to encode prompts the table lacks; None for a model in
    the hub cache or with other weights files."""
    weights = os.path.join(name, "model.safetensors")
    if not os.path.isfile(weights):
        return None
    digest = hashlib.sha256()
    with open(weights, "rb") as f:
        for piece in iter(lambda: f.read(1 << 22), b""):
            digest.update(piece)
    return {"path": os.path.abspath(name), "digest": "sha256:" + digest.hexdigest(), "layout": "hf"}


def grid_of(model):
    v = model.config.vision_config
    return v.image_size // v.patch_size, v.image_size // v.patch_size


@torch.inference_mode()
def encode_images(model, pixel_values, tail=True):
    """(pooled [B, Dv], tail input [B, 1 + H·W, Dv] or None) as float32 numpy
    arrays. The tail input is what enters the last encoder layer, i.e.
    `hidden_states[-2]`; it is caught on its way in rather than by asking for
    every layer's hidden states, which would keep them all for the batch."""
    vision = model.vision_model
    caught = []

    def catch(module, args, kwargs):
        caught.append(args[0] if args else kwargs["hidden_states"])

    hook = vision.encoder.layers[-1].register_forward_pre_hook(catch, with_kwargs=True) if tail else None
    try:
        out = vision(pixel_values=pixel_values.to(model.device, model.dtype))
    finally:
        if hook is not None:
            hook.remove()
    pooled = out.pooler_output.float().cpu().numpy()
    return pooled, (caught[0].float().cpu().numpy() if tail else None)


@torch.inference_mode()
def encode_texts(model, tokenizer, texts):
    """Text features before the projection, [len(texts), Dt]."""
    tokens = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    out = model.text_model(input_ids=tokens["input_ids"].to(model.device),
                           attention_mask=tokens["attention_mask"].to(model.device))
    return out.pooler_output.float().cpu().numpy()


def heads(model):
    return (model.visual_projection.weight.detach().float().cpu().numpy(),
            model.text_projection.weight.detach().float().cpu().numpy(),
            np.float32(model.logit_scale.detach().float().cpu().item()))


CAM_LAYER = "vision_model.encoder.layers[-1].layer_norm1"
ACTIVATIONS = ("quick_gelu", "gelu")


def cam_tail_manifest(model, name):
    """The manifest's `cam_tail`: what spurscope needs besides the weights to
    run the tail (refused for an activation it does not implement)."""
    v = model.config.vision_config
    if v.hidden_act not in ACTIVATIONS:
        raise InputError(name, f"is '{v.hidden_act}', expected one of {', '.join(ACTIVATIONS)} (the activations spurscope's "
                         "Grad-CAM tail implements; --no-spatial extracts without it)", field="vision_config.hidden_act")
    return {"kind": "vit-last-block", "layer": CAM_LAYER, "heads": int(v.num_attention_heads),
            "activation": v.hidden_act, "layer_norm_eps": float(v.layer_norm_eps)}


def cam_tail_weights(model):
    """The last encoder layer and post_layernorm in OpenAI's names, float32
    numpy arrays in file order (`in_proj` = q, k, v stacked along rows)."""
    vision = model.vision_model
    block, attn = vision.encoder.layers[-1], vision.encoder.layers[-1].self_attn

    def f32(*tensors):
        return torch.cat([t.detach().float().cpu() for t in tensors]).numpy()

    return [
        ("ln_1.weight", f32(block.layer_norm1.weight)), ("ln_1.bias", f32(block.layer_norm1.bias)),
        ("attn.in_proj_weight", f32(attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight)),
        ("attn.in_proj_bias", f32(attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias)),
        ("attn.out_proj.weight", f32(attn.out_proj.weight)), ("attn.out_proj.bias", f32(attn.out_proj.bias)),
        ("ln_2.weight", f32(block.layer_norm2.weight)), ("ln_2.bias", f32(block.layer_norm2.bias)),
        ("mlp.c_fc.weight", f32(block.mlp.fc1.weight)), ("mlp.c_fc.bias", f32(block.mlp.fc1.bias)),
        ("mlp.c_proj.weight", f32(block.mlp.fc2.weight)), ("mlp.c_proj.bias", f32(block.mlp.fc2.bias)),
        ("ln_post.weight", f32(vision.post_layernorm.weight)), ("ln_post.bias", f32(vision.post_layernorm.bias)),
    ]


def write_cam_tail(path, model, metadata):
    weights = cam_tail_weights(model)
    with TensorFileWriter(path, [(name, "F32", list(a.shape)) for name, a in weights], metadata) as w:
        for name, a in weights:
            w.write(name, a)


VIEW_DIR, MASK_DIR = "images", "masks"


def view_path(row, directory=VIEW_DIR):
    return f"{directory}/{row:07d}.png"


def crop_box(box_text, size, processor):
    """A box `x0 y0 x1 y1` in the original image (upright: `size` is
    images.upright_size), in the model's view: resized
    (shortest edge) and center-cropped like the pixels, to within a pixel of
    the processor's rounding; blank when nothing of it is left."""
    if not box_text:
        return ""
    x0, y0, x1, y1 = (float(v) for v in box_text.split())
    w, h = size
    edge, crop = processor.size["shortest_edge"], processor.crop_size
    short, long = min(w, h), max(w, h)
    nw, nh = (edge, int(edge * long / short)) if w <= h else (int(edge * long / short), edge)
    left, top = (nw - crop["width"]) // 2, (nh - crop["height"]) // 2
    sx, sy = nw / w, nh / h
    x0, x1 = (min(max(x * sx - left, 0), crop["width"]) for x in (x0, x1))
    y0, y1 = (min(max(y * sy - top, 0), crop["height"]) for y in (y0, y1))
    return f"{x0:g} {y0:g} {x1:g} {y1:g}" if x0 < x1 and y0 < y1 else ""


def model_views(data, processor):
    """The dataset as the bundle lists it when it carries the model's views:
    images/NNNNNNN.png (and masks/) by row, boxes moved into the crop, the
    original path kept in `source_image`."""
    from PIL import Image
    examples = []
    for row, e in enumerate(data.examples):
        extra = dict(e.extra, source_image=e.image)
        if extra.get("mask"):
            extra["mask"] = view_path(row, MASK_DIR)
        if extra.get("bbox"):
            with Image.open(e.image) as img:
                extra["bbox"] = crop_box(extra["bbox"], images.upright_size(img), processor)
        examples.append(dataset.Example(e.id, view_path(row), e.label, e.split, extra))
    return dataset.Dataset(examples, data.classes, data.extra_columns + ["source_image"], data.groups, data.source)


def save_views(staging, data, processor, first_row, views):
    from PIL import Image
    for k, view in enumerate(views):
        row = first_row + k
        Image.fromarray(view).save(os.path.join(staging, view_path(row)))
        mask = data.examples[row].extra.get("mask")
        if mask:
            try:
                rgb = images.open_rgb(mask)
            except OSError as e:
                raise InputError(mask, f"cannot be read as a mask image: {e}")
            Image.fromarray(images.model_view(processor, rgb)).save(os.path.join(staging, view_path(row, MASK_DIR)))


def vocabulary(args, data):
    words = dataset.read_vocabulary(args.vocabulary or DEFAULT_VOCABULARY)
    exclude = list(args.exclude or [])
    if data.groups == ["water"]:
        exclude.append("bird")   # Waterbirds: both classes are birds
    kept = dataset.vocabulary_without_classes(words, data.classes, exclude)
    if not kept:
        raise InputError(args.vocabulary or DEFAULT_VOCABULARY, "has no word left once the class names are removed")
    group = kept
    if args.group_vocabulary:
        group = dataset.read_vocabulary(args.group_vocabulary)
        unknown = [w for w in group if w not in kept]
        if unknown:
            raise InputError(args.group_vocabulary, f"lists {', '.join(repr(w) for w in unknown[:5])}, which the vocabulary "
                             "does not have (after removing class names)")
    return kept, group


def run(args):
    if args.waterbirds:
        data = dataset.from_waterbirds(args.waterbirds)
    else:
        if not (args.images and args.labels):
            raise InputError("clip", "give --waterbirds DIR, or --images DIR with --labels FILE")
        classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
        data = dataset.from_labels(args.labels, args.images, classes)
    attributes, group_attributes = vocabulary(args, data)
    checkpoint = text_checkpoint(args.model)
    prompt_texts = prompts.prompt_table(data.classes, IMAGENET80, attributes, group_attributes,
                                        full=args.all_prompts or checkpoint is None)
    n, m = shards.parse(args.shard) if args.shard else (1, 1)
    for name, value in (("--batch", args.batch), ("--text-batch", args.text_batch)):
        if value < 1:
            raise InputError(name, f"is {value}, expected at least 1")

    model, tokenizer, processor = load_clip(args.model, args.device)
    wv, wt, logit_scale = heads(model)
    gh, gw = grid_of(model)
    dv, dt, e = model.config.vision_config.hidden_size, model.config.text_config.hidden_size, model.config.projection_dim
    tail = not args.no_spatial
    cam_tail = cam_tail_manifest(model, args.model) if tail else None
    tensors = ["image_pooled"] + (["image_tail_input"] if tail else []) + ["text_prompts", "W_v", "W_t", "logit_scale"]
    man = bundle.manifest(args.model, (dv, dt, e), (gh, gw), "token", data.classes, IMAGENET80, attributes,
                          tensors, data.groups, text_checkpoint=checkpoint, cam_tail=cam_tail)
    rows = shards.slice_range(len(data.examples), n, m)
    prompt_rows = shards.slice_range(len(prompt_texts), n, m)
    quiet = args.quiet
    if not quiet:
        print(f"{args.model}: Dv {dv}, Dt {dt}, E {e}, grid {gh}×{gw}; {len(data.examples)} examples, "
              f"{len(data.classes)} classes, {len(attributes)} attributes, {len(prompt_texts)} prompts"
              + (f"; shard {n}/{m}: examples {rows[0]}..<{rows[1]}, prompts {prompt_rows[0]}..<{prompt_rows[1]}" if args.shard else ""),
              file=sys.stderr)

    with bundle.staged_directory(args.out, args.force) as staging:
        bundle.write_json(os.path.join(staging, bundle.MANIFEST), man)
        views = not args.originals
        bundle.write_examples(os.path.join(staging, bundle.EXAMPLES), model_views(data, processor) if views else data)
        if views:
            os.makedirs(os.path.join(staging, VIEW_DIR))
            if any(e.extra.get("mask") for e in data.examples):
                os.makedirs(os.path.join(staging, MASK_DIR))
        bundle.write_prompts(os.path.join(staging, bundle.PROMPTS), prompt_texts)
        if args.shard:
            bundle.write_json(os.path.join(staging, shards.SHARD_FILE), {
                "shard": n, "of": m, "rows": list(rows), "prompt_rows": list(prompt_rows),
                "total_rows": len(data.examples), "total_prompts": len(prompt_texts)})
        count, pcount = rows[1] - rows[0], prompt_rows[1] - prompt_rows[0]
        declarations = [("image_pooled", "F32", [count, dv])]
        if tail:
            declarations.append(("image_tail_input", args.spatial_dtype.upper(), [count, 1 + gh * gw, dv]))
        declarations += [("text_prompts", "F32", [pcount, dt]), ("W_v", "F32", list(wv.shape)),
                         ("W_t", "F32", list(wt.shape)), ("logit_scale", "F32", [])]
        metadata = {"written_by": "spurscope_extract", "model": args.model}
        if tail:
            write_cam_tail(os.path.join(staging, bundle.CAM_TAIL), model, metadata)
        with TensorFileWriter(os.path.join(staging, bundle.FEATURES), declarations, metadata) as w:
            w.write("W_v", wv)
            w.write("W_t", wt)
            w.write("logit_scale", logit_scale)
            progress = images.Progress("prompts", pcount, quiet)
            for a in range(0, pcount, args.text_batch):
                chunk = prompt_texts[prompt_rows[0] + a: prompt_rows[0] + min(pcount, a + args.text_batch)]
                w.write_rows("text_prompts", a, encode_texts(model, tokenizer, chunk))
                progress.advance(len(chunk))
            paths = [x.image for x in data.examples[rows[0]:rows[1]]]
            progress = images.Progress("images", count, quiet)
            for start, pixels, decoded in images.batches(paths, processor, args.batch, args.workers, views):
                if views:
                    save_views(staging, data, processor, rows[0] + start, [v for _, v in decoded])
                pooled, tokens = encode_images(model, pixels, tail)
                w.write_rows("image_pooled", start, pooled)
                if tail:
                    w.write_rows("image_tail_input", start, tokens)
                progress.advance(len(pooled))
    if not quiet:
        print(f"wrote {args.out}" + (f" (shard {n} of {m}; merge all {m} with `python -m spurscope_extract merge`)" if args.shard else ""),
              file=sys.stderr)
