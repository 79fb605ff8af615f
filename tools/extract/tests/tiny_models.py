"""Tiny CLIP and OWL-ViT checkpoints with random weights (nothing can be
downloaded here), saved in the save_pretrained layout with a character-level
CLIP tokenizer, so the extractor loads them exactly as it loads a real one."""

import torch
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer, OwlViTConfig, OwlViTForObjectDetection
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

IMAGE_SIZE, PATCH = 64, 16          # a 4×4 grid of patches
BOS, EOS, VOCAB = 512, 513, 514


def byte_symbols():
    """The byte-level BPE alphabet: printable Latin-1 bytes stand for
    themselves, the others are shifted past 255, so every byte is one symbol."""
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(ord("¡"), ord("¬") + 1)) | set(range(ord("®"), ord("ÿ") + 1))
    out, shifted = [], 0
    for b in range(256):
        if b in printable:
            out.append(chr(b))
        else:
            out.append(chr(256 + shifted))
            shifted += 1
    return out


def tokenizer(max_length=77):
    """No merges: every character is a token, the last of a word with `</w>`."""
    symbols = byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    vocab.update({s + "</w>": 256 + i for i, s in enumerate(symbols)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = BOS, EOS
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def text_config():
    return dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=77, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=EOS)


def vision_config():
    return dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                image_size=IMAGE_SIZE, patch_size=PATCH)


def save_clip(directory, seed=0, **vision):
    """`vision`: vision_config fields to change (e.g. hidden_act="gelu")."""
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text_config(), vision_config=dict(vision_config(), **vision),
                                 projection_dim=24)).eval()
    model.save_pretrained(directory)
    tokenizer().save_pretrained(directory)
    CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                          crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(directory)
    return model


def save_owlvit(directory, seed=1):
    torch.manual_seed(seed)
    # OWL-ViT's class head compares projected queries with image embeddings of the
    # text tower's width, so its projection keeps that width (512 in the real models).
    model = OwlViTForObjectDetection(OwlViTConfig(text_config=text_config(), vision_config=vision_config(),
                                                  projection_dim=text_config()["hidden_size"])).eval()
    model.save_pretrained(directory)
    tokenizer().save_pretrained(directory)
    OwlViTImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(directory)
    return model
