"""spurscope's CLIP tokenizer (Sources/SpurCLIP/Tokenizer) against OpenAI's
clip/simple_tokenizer.py and transformers' CLIPTokenizer, with the real
vocabulary that openai-clip ships, on a seeded corpus of prompts as users
write them and of hostile text."""

import gzip
import json
import pathlib
import random

import ftfy
import pytest
from transformers import CLIPTokenizer

from conftest import json_lines, load_clip_module, run_spurscope

ROOT = pathlib.Path(__file__).resolve().parents[3]
CONTEXT = 77


def extractor_file(name):
    return ROOT / "tools/extract/spurscope_extract" / name


def templates():
    namespace = {}
    exec(extractor_file("templates.py").read_text(), namespace)
    return namespace["IMAGENET80"]


def object_words():
    lines = extractor_file("vg-objects.txt").read_text().splitlines()
    return [w for w in lines if w and not w.startswith("#")]


# Pieces of hostile text: each class of the word split, every cleaning rule.
PIECES = [
    "it's", "IT'S", "we're", "they've", "I'm", "you'll", "he'd", "'s", "''s", "don't", "rock'n'roll",
    "3.14", "2023", "١٢٣", "½", "Ⅻ", "①", "x²",
    "!!!", "...", "?!", "--", "—", "(a)", "[b]", "{c}", "a_b", "@user", "#tag", "$5", "100%", "a/b", "\\",
    "café", "naïve", "Ærøskøbing", "straße", "İstanbul", "ΑΘΗΝΑ", "Москва", "北京", "東京タワー", "서울", "القاهرة",
    "हिन्दी", "ภาษาไทย", "e\u0301", "n\u0303o",
    "😀", "👍🏽", "👩‍👩‍👧", "🇫🇷", "❤️",
    "‘single’", "“double”", "„low”", "ﬁsh", "ﬂower", "ĳs", "ＦＵＬＬ", "ｗｉｄｔｈ！", "ｶﾀｶﾅ",
    "&amp;", "&lt;b&gt;", "&eacute;", "&#233;", "&#xE9;", "&#x1F600;", "&nbsp;", "&quot;x&quot;", "&amp;amp;", "&copy",
    "&unknown;", "&#0;", "&#150;", "&#x81;",
    "\u0085", "\u0096", "\u0000", "\u0007", "\u00ad", "\ufeff", "\u200b", "\u2066",
    "<|startoftext|>", "<|endoftext|>", "<|ENDOFTEXT|>", "<|endoftext|>!",
]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u2009", "\x1c", ""]


def hostile_texts(count, seed):
    rng = random.Random(seed)
    words = object_words()
    texts = []
    for _ in range(count):
        parts = [rng.choice(PIECES) if rng.random() < 0.5 else rng.choice(words) for _ in range(rng.randint(1, 8))]
        texts.append("".join(p + rng.choice(SPACES) for p in parts))
    return texts


def long_texts():
    word = "photograph "
    return [word * n for n in (74, 75, 76, 200)] + ["a " + "&#233;" * 100, "🙂" * 80]


def prompt_texts():
    words = object_words()
    return [t.format(w) for t in templates() for w in words[:128]]


@pytest.fixture(scope="module")
def simple_tokenizer(vocab_gz):
    return load_clip_module("simple_tokenizer").SimpleTokenizer(str(vocab_gz))


def reference_ids(tokenizer, text):
    """OpenAI's clip.tokenize(truncate=True), without the padding."""
    sot, eot = tokenizer.encoder["<|startoftext|>"], tokenizer.encoder["<|endoftext|>"]
    ids = [sot] + tokenizer.encode(text) + [eot]
    if len(ids) > CONTEXT:
        ids = ids[:CONTEXT]
        ids[-1] = eot
    return ids


def tokenize(tmp_path, vocab, texts):
    path = tmp_path / "texts.json"
    path.write_text(json.dumps(texts))
    rows = json_lines(run_spurscope("tokenize", "--vocab", vocab, "--texts", path, "--json").stdout)
    assert [r["text"] for r in rows] == texts
    return rows


def mismatches(rows, expected):
    return [(r["text"], r["tokens"], e) for r, e in zip(rows, expected) if r["tokens"] != e]


def guesses_mojibake(text):
    """Whether ftfy's encoding repair (which spurscope leaves out) changes the text."""
    return ftfy.fix_encoding(text) != text


def test_corpus_matches_openai_simple_tokenizer(tmp_path, vocab_gz, simple_tokenizer):
    prompts, hostile = prompt_texts(), hostile_texts(4000, seed=7)
    kept = [t for t in hostile if not guesses_mojibake(t)]
    texts = prompts + kept + long_texts()
    assert len(prompts) >= 10_000 and len(kept) >= 3500
    rows = tokenize(tmp_path, vocab_gz, texts)
    wrong = mismatches(rows, [reference_ids(simple_tokenizer, t) for t in texts])
    assert not wrong, f"{len(wrong)} of {len(texts)} differ; first: {wrong[:3]}"
    truncated = [r["truncated"] for r in rows[-len(long_texts()):]]
    assert truncated == [False, False, True, True, True, True]
    assert all(len(r["tokens"]) <= CONTEXT for r in rows)


def test_mojibake_is_left_as_typed(tmp_path, vocab_gz, simple_tokenizer):
    """The one rule left out: ftfy reads 'cafÃ©' as UTF-8 shown as Latin-1
    and gives 'café'; spurscope tokenizes the characters as typed, as OpenAI's
    tokenizer does with ftfy's other fixes but not that one."""
    import html
    import regex
    text = "a cafÃ© by the lake"
    rows = tokenize(tmp_path, vocab_gz, [text])
    t = simple_tokenizer
    assert rows[0]["tokens"] != reference_ids(t, text)
    cleaned = regex.sub(r"\s+", " ", ftfy.fix_text(text, fix_encoding=False)).strip().lower()
    words = regex.findall(t.pat, html.unescape(html.unescape(cleaned)))
    ids = [t.encoder[b] for w in words for b in t.bpe("".join(t.byte_encoder[x] for x in w.encode())).split(" ")]
    assert rows[0]["tokens"] == [t.encoder["<|startoftext|>"]] + ids + [t.encoder["<|endoftext|>"]]


def hugging_face_files(directory, simple_tokenizer):
    """The real vocabulary in Hugging Face's files, written from OpenAI's."""
    directory.mkdir()
    (directory / "vocab.json").write_text(json.dumps(simple_tokenizer.encoder))
    merges = sorted(simple_tokenizer.bpe_ranks, key=simple_tokenizer.bpe_ranks.get)
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return directory


def test_hugging_face_files_match_clip_tokenizer(tmp_path, simple_tokenizer):
    folder = hugging_face_files(tmp_path / "hf", simple_tokenizer)
    hf = CLIPTokenizer.from_pretrained(str(folder))
    # transformers' CLIPTokenizer (the tokenizers backend) runs NFC, not ftfy
    # or html.unescape, and spurscope follows OpenAI's tokenizer, which CLIP
    # was trained with: texts those steps change are compared with OpenAI's only.
    # So are special tokens typed in capitals, which OpenAI's lower-cases
    # before it finds them and transformers does not.
    texts = [t for t in prompt_texts()[::4] + hostile_texts(4000, seed=11)
             if "&" not in t and "ENDOFTEXT" not in t and ftfy.fix_text(t) == t]
    assert len(texts) >= 3000
    rows = tokenize(tmp_path, folder, texts)
    expected = [hf(t, truncation=True, max_length=CONTEXT)["input_ids"] for t in texts]
    wrong = mismatches(rows, expected)
    assert not wrong, f"{len(wrong)} of {len(texts)} differ; first: {wrong[:3]}"


def test_tokenizer_json_reads_as_its_vocabulary(tmp_path, simple_tokenizer):
    folder = hugging_face_files(tmp_path / "hf", simple_tokenizer)
    merges = sorted(simple_tokenizer.bpe_ranks, key=simple_tokenizer.bpe_ranks.get)
    fast = tmp_path / "fast"
    fast.mkdir()
    (fast / "tokenizer.json").write_text(json.dumps(
        {"model": {"type": "BPE", "vocab": simple_tokenizer.encoder, "merges": [list(m) for m in merges]}}))
    texts = prompt_texts()[::40] + ["it's 3 ﬁsh &amp; “chips”"]
    assert [r["tokens"] for r in tokenize(tmp_path, fast, texts)] == [r["tokens"] for r in tokenize(tmp_path, folder, texts)]


def test_character_vocabulary_without_merges(tmp_path):
    """The extractor's tiny test tokenizer: every byte a token, ids of its own."""
    import sys
    sys.path.insert(0, str(ROOT / "tools/extract/tests"))
    import tiny_models
    folder = tmp_path / "tiny"
    tiny = tiny_models.tokenizer()
    tiny.save_pretrained(str(folder))
    texts = prompt_texts()[::50] + ["Naïve café, 3 birds!"]
    rows = tokenize(tmp_path, folder, texts)
    assert not mismatches(rows, [tiny(t, truncation=True, max_length=CONTEXT)["input_ids"] for t in texts])
    assert rows[0]["tokens"][0] == tiny_models.BOS and rows[0]["tokens"][-1] == tiny_models.EOS


@pytest.mark.parametrize("files, message", [
    ({}, "has no CLIP vocabulary: looked for vocab.json with merges.txt, tokenizer.json and bpe_simple_vocab_16e6.txt.gz"),
    ({"vocab.json": "[1, 2]"}, "vocab.json: has the wrong type"),
    ({"vocab.json": '{"a": 1}', "merges.txt": "#version: 0.2\n"}, "vocab.json: has no <|startoftext|> or <|endoftext|> token"),
    ({"vocab.json": '{"<|startoftext|>": 0, "<|endoftext|>": 1}'}, "merges.txt: cannot be read as UTF-8 text"),
    ({"vocab.json": '{"<|startoftext|>": 0, "<|endoftext|>": 1}', "merges.txt": "#version: 0.2\na b\nabc\n"},
     "merges.txt: line 3: is 'abc', expected two symbols separated by a space"),
    ({"tokenizer.json": '{"model": {"type": "WordPiece", "vocab": {}, "merges": []}}'}, "tokenizer.json: model.type: is WordPiece, expected BPE"),
    ({"tokenizer.json": '{"model": {"vocab": {}}}'}, "tokenizer.json: model.merges: is missing"),
])
def test_broken_vocabularies_are_named(tmp_path, files, message):
    folder = tmp_path / "v"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    out = run_spurscope("tokenize", "--vocab", folder, "x", check=False)
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_broken_gzip_is_named(tmp_path):
    path = tmp_path / "bpe_simple_vocab_16e6.txt.gz"
    path.write_bytes(gzip.compress(b"header\nonly-one-symbol\n"))
    out = run_spurscope("tokenize", "--vocab", path, "x", check=False)
    assert out.returncode == 2 and "line 2: is 'only-one-symbol', expected two symbols" in out.stderr, out.stderr
