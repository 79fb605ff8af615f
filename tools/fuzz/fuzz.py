#!/usr/bin/env python3
"""A bounded mutation fuzzer for spurscope's bundle readers and commands.

Each input is a copy of the seed bundle (Tests/CLITests/FuzzCases/seed) with
one to three mutations — manifest JSON, the CSVs, the safetensors header or
data, PNG and JPEG images and masks — on which a few commands run with a
timeout. A command that ends by a signal (a Swift trap is SIGILL or
SIGTRAP, a precondition SIGTRAP, an abort SIGABRT, a bad access SIGSEGV)
is a crash: its input is saved as a regression case under
Tests/CLITests/FuzzCases/<id>/ (case.json + the mutated files), which the
test suite (FuzzCaseTests) replays on every `make test`.

    python3 tools/fuzz/fuzz.py --spurscope .build/debug/spurscope --minutes 5

Standard library only. Runs are reproducible from --seed: input i uses
random.Random(f"{seed}:{i}").
"""
import argparse, base64, json, os, random, shutil, signal, struct, subprocess, sys, tempfile, time, zlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = os.path.join(ROOT, "Tests", "CLITests", "FuzzCases")
SEED = os.path.join(CASES, "seed")

INTERESTING_NUMBERS = [0, -1, 1, 2, 3, 7, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**53,
                       2**63 - 1, 2**63, 2**64, -2**31, -2**63, 1e308, -1e308, 1e-320, 0.5, -0.0,
                       1e30, 128.5, 10**400, -10**400, 2**1100]
# Raw control characters and terminal sequences: whatever a command prints
# of them must come out escaped.
CONTROL_STRINGS = ["\x1b[31mred\x1b[0m", "\x1b]52;c;aGk=\x07", "a\rb", "line\nbreak", "\x07bell", "tab\there",
                   "\x00nul", "\x7f", "\u202eevil", "\u2028sep", "\x9b31m", "\x1bc"]
HEX_FLOATS = ["0x1p-1", "0x1.8p0", "-0x1p+0", "0x0p0", "0X1P-2", "0x1p128", "0x.8p1"]
INTERESTING_STRINGS = ["", " ", "-1", "0", "1", "2", "nan", "NaN", "inf", "-inf", "1e40", "-1e40", "0x10",
                       "99999999999999999999", "1.5", "  1", "yes", "\"", "a,b", "\u00e9\u6f22\U0001F426",
                       "x" * 5000, "images/../manifest.json", "/dev/zero", "/dev/null", "manifest.json",
                       "features.safetensors", "images", "/nonexistent/x.png", "{}", "a photo of {}.",
                       "{} {}", "train", "val", "test", "landbird", "waterbird", "water"] + CONTROL_STRINGS + HEX_FLOATS


# ---------------------------------------------------------------- mutators

def interesting_value(rng):
    r = rng.random()
    if r < 0.45:
        return rng.choice(INTERESTING_NUMBERS)
    if r < 0.8:
        return rng.choice(INTERESTING_STRINGS)
    return rng.choice([None, True, False, [], {}, [1, 2], {"H": 0, "W": 0}, ["water", "water"]])


def all_paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from all_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from all_paths(v, path + (i,))


def mutate_json(data, rng):
    try:
        doc = json.loads(data)
    except ValueError:
        return flip_bytes(data, rng)
    if rng.random() < 0.1:
        return flip_bytes(data, rng)
    paths = [p for p in all_paths(doc) if p]
    if not paths:
        return data
    path = rng.choice(paths)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    op = rng.random()
    if op < 0.25:
        del parent[key]
    elif op < 0.45 and isinstance(parent, list):
        parent.insert(key, parent[key])              # a duplicate list entry
    elif op < 0.55 and isinstance(parent[key], list) and parent[key]:
        parent[key] = parent[key] * rng.choice([2, 50])
    else:
        parent[key] = interesting_value(rng)
    if rng.random() < 0.04:
        parent[key] = "y" * 10_000_000                # a 10 MB field, never to be echoed whole
    if rng.random() < 0.06 and isinstance(doc, dict) and isinstance(doc.get("classes"), list):
        # Many classes that match no label: every check must stay linear.
        doc["classes"] = doc["classes"] + [f"unused class {i}" for i in range(rng.choice([1000, 20000, 100000]))]
    text = json.dumps(doc, allow_nan=True, indent=1)
    if rng.random() < 0.05:
        text = text.replace("0.5", "NaN", 1)
    if rng.random() < 0.15:
        # Valid JSON numbers out of every range (JSON has no bounds), as literal text.
        for field in ["Dv", "Dt", "E", "H", "W", "format_version", "detection_threshold", "heads", "layer_norm_eps"]:
            if f'"{field}"' in text and rng.random() < 0.5:
                import re
                value = rng.choice(["1e+308", "1e30", "9223372036854775808", "128.5", "-1e400", "1" + "0" * 400, "1e-400", "-0"])
                text = re.sub(f'("{field}": )[^,}}\n]+', lambda m: m.group(1) + value, text, count=1)
    if rng.random() < 0.05:
        # A key given twice (JSON allows it; decoders differ on which wins).
        text = text.replace('"classes":', '"classes": ["dup", "dup2"], "classes":', 1)
    return text.encode()


def flip_bytes(data, rng, count=None):
    b = bytearray(data)
    if not b:
        return bytes(b)
    for _ in range(count or rng.randint(1, 8)):
        i = rng.randrange(len(b))
        r = rng.random()
        if r < 0.5:
            b[i] ^= 1 << rng.randrange(8)
        elif r < 0.8:
            b[i] = rng.choice([0, 0xFF, 0x7F, 0x80, ord(","), ord("\n"), ord("\""), ord("{")])
        else:
            del b[i]
    return bytes(b)


def truncate(data, rng):
    return data[:rng.randrange(len(data) + 1)] if data else data


def mutate_csv(data, rng):
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    op = rng.random()
    if op < 0.1:
        return flip_bytes(data, rng)
    if op < 0.15:
        return truncate(data, rng)
    if op < 0.25 and len(lines) > 2 and rng.random() < 0.35:
        # One value for a whole column (every example in one split, of one
        # class, with one ground-truth value): empty splits and groups.
        rows = [l.split(",") for l in lines]
        j = rng.randrange(len(rows[0]))
        donors = [r[j] for r in rows[1:] if len(r) > j]
        if donors:
            v = rng.choice(donors + [""])
            for r in rows[1:]:
                if len(r) > j and (rng.random() < 0.9):
                    r[j] = v
            lines = [",".join(r) for r in rows]
    elif op < 0.25 and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif op < 0.35 and len(lines) > 1:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif op < 0.42:
        lines[0] = lines[0] + rng.choice([",extra", ",attr:new", ",id", ",label", ",attr:water", ""])
    elif op < 0.48:
        i = rng.randrange(len(lines))
        cells = lines[i].split(",")
        if len(cells) > 1:
            del cells[rng.randrange(len(cells))]
        lines[i] = ",".join(cells)
    elif op < 0.52:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", "\r", ",,,,", "\"unterminated", "\0"]))
    elif op < 0.58 and len(lines) > 1:
        # Rows with more fields than the header.
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(1, len(lines))
            lines[i] = lines[i] + rng.choice([",x", ",,", ",1,2,3", "," + "\x1b[2J"])
    elif op < 0.64 and len(lines) > 1:
        # The same row (an (id, attribute) pair in attributes.csv) again, maybe with another score.
        i = rng.randrange(1, len(lines))
        cells = lines[i].split(",")
        if rng.random() < 0.5 and len(cells) > 1:
            cells[-1] = rng.choice(["0.99", "0.01", "0x1p-1", "1"])
        lines.insert(rng.randrange(1, len(lines) + 1), ",".join(cells))
    elif op < 0.68 and len(lines) > 1:
        # Hex floats where scores or boxes are.
        i = rng.randrange(1, len(lines))
        cells = lines[i].split(",")
        cells[-1] = rng.choice(HEX_FLOATS) if rng.random() < 0.7 else " ".join(rng.choice(HEX_FLOATS) for _ in range(4))
        lines[i] = ",".join(cells)
    elif op < 0.72 and len(lines) > 1:
        i = rng.randrange(len(lines))
        cells = lines[i].split(",")
        j = rng.randrange(len(cells))
        cells[j] = cells[j] + rng.choice(CONTROL_STRINGS).replace("\n", "")
        lines[i] = ",".join(cells)
    else:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            cells = lines[i].split(",")
            j = rng.randrange(len(cells))
            v = interesting_value(rng)
            cells[j] = v if isinstance(v, str) else json.dumps(v)
            lines[i] = ",".join(cells)
    return "\n".join(lines).encode()


def mutate_safetensors(data, rng):
    if len(data) < 8:
        return flip_bytes(data, rng)
    n = struct.unpack("<Q", data[:8])[0]
    try:
        header = json.loads(data[8:8 + n])
    except ValueError:
        return flip_bytes(data, rng)
    if not isinstance(header, dict) or not all(isinstance(v, dict) for v in header.values()):
        return flip_bytes(data, rng)
    body = bytearray(data[8 + n:])
    op = rng.random()
    if op < 0.1:
        # the header length field
        v = rng.choice([0, 1, 7, n - 1, n + 1, len(data), 2**31, 2**63, 2**64 - 1])
        return struct.pack("<Q", v % 2**64) + data[8:]
    if op < 0.2:
        return truncate(data, rng)
    if op < 0.35:
        # non-finite or extreme values in a float tensor
        names = [k for k, v in header.items() if k != "__metadata__" and v.get("dtype") in ("F32", "F16")]
        if names:
            t = header[rng.choice(names)]
            a, b = t["data_offsets"]
            width = 4 if t["dtype"] == "F32" else 2
            for _ in range(rng.randint(1, 4)):
                if b - a < width:
                    break
                i = a + width * rng.randrange((b - a) // width)
                if width == 4:
                    body[i:i + 4] = struct.pack("<f", rng.choice([float("nan"), float("inf"), -float("inf"), 3.0e38, 1e-45, 0.0]))
                else:
                    body[i:i + 2] = rng.choice([b"\x00\x7e", b"\x00\x7c", b"\x00\xfc", b"\xff\x7b", b"\x00\x00"])
        return data[:8 + n] + bytes(body)
    if op < 0.45:
        return data[:8] + flip_bytes(data[8:8 + n], rng) + data[8 + n:]
    if op < 0.52:
        # A tensor name given twice in the header JSON (json.dumps cannot write that).
        names = [k for k in header if k != "__metadata__"]
        if names:
            name = rng.choice(names)
            other = header[rng.choice(names)]
            dup = json.dumps(name) + ": " + json.dumps(other if rng.random() < 0.7 else {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})
            text = json.dumps(header)
            h = (text[:-1] + ", " + dup + "}" if rng.random() < 0.5 else "{" + dup + ", " + text[1:]).encode()
            h += b" " * (-len(h) % 8)
            return struct.pack("<Q", len(h)) + h + bytes(body)
    # a structured change of one tensor's entry
    names = [k for k in header if k != "__metadata__"]
    if not names:
        return data
    name = rng.choice(names)
    entry = header[name]
    r = rng.random()
    if r < 0.35 and isinstance(entry.get("shape"), list) and entry["shape"]:
        shape = entry["shape"]
        i = rng.randrange(len(shape))
        shape[i] = rng.choice([0, 1, -1, shape[i] + 1, shape[i] - 1, shape[i] * 2, 2**31, 2**32 + shape[i], 2**62, 2**63])
        if rng.random() < 0.2:
            shape.append(rng.choice([1, 2]))
    elif r < 0.5:
        entry["dtype"] = rng.choice(["F64", "BF16", "I8", "U8", "I64", "BOOL", "F8_E4M3", "XX", "", 5])
    elif r < 0.7:
        a, b = entry["data_offsets"]
        entry["data_offsets"] = rng.choice([[b, a], [a, b + 4], [a + 2, b], [0, 2**63], [-1, b], [a, a], [a]])
    elif r < 0.8:
        del header[name]
    elif r < 0.9:
        other = rng.choice(names)
        header[name], header[other] = header[other], header[name]
    else:
        header[name + rng.choice(["", "_x", "2"])] = interesting_value(rng)
    h = json.dumps(header).encode()
    if rng.random() < 0.8:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + bytes(body)


def png_chunks(data):
    out, i = [], 8
    while i + 8 <= len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        out.append((i, length, data[i + 4:i + 8]))
        i += 12 + length
    return out


def png_bytes(width, height, color_type, bit_depth, rng):
    """A valid PNG: 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA; random pixels, or a
    gradient (small once compressed) without `rng`."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    row = channels * width * bit_depth // 8
    if rng is None:
        raw = b"".join(b"\x00" + bytes((x + y) % 256 for x in range(row)) for y in range(height))
    else:
        raw = b"".join(b"\x00" + bytes(rng.getrandbits(8) for _ in range(row)) for _ in range(height))
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def mutate_png(data, rng):
    op = rng.random()
    if op < 0.2:
        # A valid image of another shape: thin, tiny or large-ish, any colour type.
        side = lambda: rng.choice([1, 2, 3, 7, 31, 64, 100, 257, 600, 2000])
        w, h = side(), side()
        if w * h > 400_000:
            h = max(1, 400_000 // w)
        return png_bytes(w, h, rng.choice([0, 2, 4, 6]), rng.choice([8, 8, 16]), rng)
    op = rng.random()
    if op < 0.25:
        return flip_bytes(data, rng)
    if op < 0.4:
        return truncate(data, rng)
    chunks = png_chunks(data)
    ihdr = next((c for c in chunks if c[2] == b"IHDR" and c[1] == 13), None)
    if ihdr is None:
        return flip_bytes(data, rng)
    i = ihdr[0]
    fields = bytearray(data[i + 8:i + 21])
    r = rng.random()
    if r < 0.6:
        w = rng.choice([0, 1, 2, 31, 33, 64, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1])
        h = rng.choice([0, 1, 2, 31, 33, 48, 65535, 65536, 2**31 - 1, 2**32 - 1])
        which = rng.random()
        if which < 0.4:
            fields[0:4] = struct.pack(">I", w)
        elif which < 0.8:
            fields[4:8] = struct.pack(">I", h)
        else:
            fields[0:8] = struct.pack(">II", w, h)
    elif r < 0.8:
        fields[8] = rng.choice([1, 2, 4, 8, 16, 3, 0, 255])    # bit depth
        fields[9] = rng.choice([0, 2, 3, 4, 6, 1, 7])        # colour type
    else:
        fields[10 + rng.randrange(3)] = rng.choice([1, 2, 255])
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(fields)) & 0xFFFFFFFF)
    return data[:i + 8] + bytes(fields) + crc + data[i + 25:]


def mutate_jpeg(data, rng):
    op = rng.random()
    if op < 0.3:
        return flip_bytes(data, rng)
    if op < 0.45:
        return truncate(data, rng)
    b = bytearray(data)
    # the frame header: SOF0..SOF2 (FFC0-FFC2): length, precision, height, width, components
    for i in range(2, len(b) - 9):
        if b[i] == 0xFF and b[i + 1] in (0xC0, 0xC1, 0xC2):
            r = rng.random()
            if r < 0.7:
                v = rng.choice([0, 1, 2, 8, 65535, 65500, 48, 64])
                j = i + 5 if rng.random() < 0.5 else i + 7
                b[j:j + 2] = struct.pack(">H", v)
            elif r < 0.85:
                b[i + 9] = rng.choice([0, 1, 2, 4, 255])      # component count
            else:
                b[i + 4] = rng.choice([0, 12, 16, 255])       # precision
            return bytes(b)
    return flip_bytes(data, rng)


def mutate_file(path, rng):
    with open(path, "rb") as f:
        data = f.read()
    name = os.path.basename(path)
    try:
        new = mutate_by_kind(name, data, rng)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, struct.error, RecursionError):
        # A file an earlier mutation left unparseable for the structured mutators.
        new = flip_bytes(data, rng)
    with open(path, "wb") as f:
        f.write(new)


def mutate_by_kind(name, data, rng):
    if name.endswith(".json"):
        new = mutate_json(data, rng)
    elif name.endswith(".csv"):
        new = mutate_csv(data, rng)
    elif name.endswith(".safetensors"):
        new = mutate_safetensors(data, rng)
    elif name.endswith(".png"):
        new = mutate_png(data, rng)
    elif name.endswith(".jpg"):
        new = mutate_jpeg(data, rng)
    else:
        new = flip_bytes(data, rng)
    return new


def make_special(path, rng):
    """Replaces a file by something that is not a regular file of data: a
    FIFO (opening it for reading blocks until a writer comes), a directory,
    a symlink to a device, an empty file, or a symlink loop."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    kind = rng.choice(["fifo", "fifo", "dir", "dev-zero", "dev-null", "dev-urandom", "empty", "loop"])
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        os.makedirs(path)
    elif kind.startswith("dev-"):
        os.symlink("/dev/" + kind[4:], path)
    elif kind == "empty":
        open(path, "wb").close()
    else:
        os.symlink(os.path.basename(path), path)
    return kind


WORKSPACE = os.path.join(".spurscope", "workspace.sqlite")


def make_workspace_template(spurscope, tmp):
    """A real workspace, written by spurscope itself: two decisions on a seed copy."""
    work = os.path.join(tmp, "workspace-template")
    shutil.copytree(SEED, work)
    for attr, verdict in [("water", "spurious"), ("boat", "healthy")]:
        subprocess.run([spurscope, "mark", work, "--class", "landbird", "--attribute", attr, "--verdict", verdict,
                        "--note", "seed"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    path = os.path.join(work, WORKSPACE)
    if not os.path.exists(path):
        return None
    import sqlite3
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(path, "rb") as f:
        return f.read()


def mutate_workspace(work, template, rng):
    """A workspace database beside the bundle: hostile rows, odd schema
    versions, damaged bytes, or not a database file at all. Returns a held
    writer (a sqlite3 connection inside BEGIN IMMEDIATE) or None, and the
    kind of special file made in its place or None."""
    import sqlite3
    path = os.path.join(work, WORKSPACE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(template)
    op = rng.random()
    if op < 0.12:
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(flip_bytes(data, rng, rng.randint(1, 40)) if rng.random() < 0.6 else truncate(data, rng))
        return None, None
    if op < 0.2:
        return None, make_special(path, rng)
    con = sqlite3.connect(path, isolation_level=None, timeout=1)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        r = rng.random()
        if r < 0.35:
            text = lambda: rng.choice(CONTROL_STRINGS + INTERESTING_STRINGS[:12] + ["x" * 100_000])
            for _ in range(rng.randint(1, 5)):
                con.execute("INSERT INTO decisions (class, attribute, verdict, previous_verdict, phrase_present, phrase_absent, note, created_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (rng.choice(["landbird", "waterbird", text()]), rng.choice(["water", "boat", text()]),
                             rng.choice(["spurious", "healthy", "undecided"]), rng.choice([None, "spurious", "bogus"]),
                             text(), text(), text(), rng.choice(["2026-01-01T00:00:00.000Z", "", "not a date", text()])))
        elif r < 0.5:
            con.execute(f"PRAGMA user_version = {rng.choice([0, 1, 2, 4, 99, -1, 2**31 - 1])}")
        elif r < 0.6:
            con.execute(rng.choice(["DROP TABLE decisions", "DROP TABLE runs", "ALTER TABLE decisions RENAME TO d2"]))
        elif r < 0.75:
            con.execute("INSERT INTO runs (method, config, status, created_at, updated_at, best_epoch, best_checkpoint, message, pid)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (rng.choice(["erm", "ours-ls", "\x1b[2J", ""]), rng.choice(["{}", "[", "{\"epochs\": 1e400}", "x" * 10000]),
                         rng.choice(["finished", "running", "weird"]), "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z",
                         rng.choice([None, 0, 1, -1, 2**62]),
                         rng.choice([None, "/dev/zero", "../../manifest.json", "runs/1/none.safetensors", "\x1b[31m"]),
                         rng.choice(["", "\x1b[31mfailed\x07"]), rng.choice([None, 1, os.getpid(), 2**31 - 1])))
        if rng.random() < 0.35:
            # Another connection mid-write: readers must not wait for it.
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO decisions (class, attribute, verdict, phrase_present, phrase_absent, created_at)"
                        " VALUES ('landbird', 'sun', 'healthy', 'p', 'a', '2026-01-01T00:00:00.000Z')")
            return con, None
    except sqlite3.DatabaseError:
        pass
    con.close()
    return None, None


# ---------------------------------------------------------------- inputs

def seed_examples():
    import csv
    rows = list(csv.DictReader(open(os.path.join(SEED, "examples.csv"))))
    return rows


def make_input(rng, work, examples, template=None):
    """Copies the seed to `work`, mutates it; returns (mutated relative paths,
    deleted, example ids worth a cam, special files made, held writer or None)."""
    shutil.copytree(SEED, work)
    files = ["manifest.json", "examples.csv", "attributes.csv", "prompts.csv", "features.safetensors"]
    images = sorted({r["image"] for r in examples} | {r["mask"] for r in examples if r["mask"]})
    mutated, deleted, cams, special = [], [], [], []
    writer = None
    if template is not None and rng.random() < 0.2:
        writer, kind = mutate_workspace(work, template, rng)
        mutated.append(WORKSPACE)
        if kind:
            special.append(f"{WORKSPACE}={kind}")
        if rng.random() < 0.5:
            return mutated, deleted, cams, special, writer
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        r = rng.random()
        if r < 0.06:
            # A special file where a file of the bundle is: images most often.
            rel = rng.choice(images + images + files)
            kind = make_special(os.path.join(work, rel), rng)
            special.append(f"{rel}={kind}")
            cams += [e["id"] for e in examples if rel in (e["image"], e["mask"])]
            continue
        if r < 0.15:
            rel = "manifest.json"
        elif r < 0.35:
            rel = rng.choice(["examples.csv", "examples.csv", "attributes.csv", "prompts.csv"])
        elif r < 0.6:
            rel = "features.safetensors"
        elif r < 0.97:
            # images: JPEGs and PNGs, images and masks alike
            jpegs = [p for p in images if p.endswith(".jpg")]
            rel = rng.choice(jpegs) if rng.random() < 0.45 else rng.choice(images)
            cams += [e["id"] for e in examples if rel in (e["image"], e["mask"])]
        else:
            rel = rng.choice(files)
            os.remove(os.path.join(work, rel))
            deleted.append(rel)
            continue
        if rel in deleted or any(x.startswith(rel + "=") for x in special):
            continue
        mutate_file(os.path.join(work, rel), rng)
        if rel not in mutated:
            mutated.append(rel)
    return mutated, deleted, cams, special, writer


def commands(rng, cams, examples, extra=2):
    """The commands to run on one input: validate, cam and eval on a mutated
    image's example, and `extra` others drawn from the pool."""
    example = rng.choice(cams) if cams else rng.choice(examples)["id"]
    pool = [
        ["info", "{bundle}"],
        ["detect", "{bundle}", "--min-support", "1"],
        ["detect", "{bundle}", "--min-support", "1", "--zero-shot", "--split", "all"],
        ["eval", "{bundle}", "--zeroshot"],
        ["eval", "{bundle}", "--zeroshot", "--attribute", "boat", "--split", "val"],
        ["cam", "{bundle}", "--example", example, "--width", str(rng.choice([8, 20, 40]))],
        ["probe", "{bundle}"],
        ["train", "{bundle}", "--method", rng.choice(["erm", "ours-ls", "ours-vs", "groupdro", "clip-ft", "dfr", "orth-proj"]),
         "--attribute", "water", "--epochs", "1", "--batch-size", "8"],
        ["decisions", "{bundle}"],
        ["decisions", "{bundle}", "--history", "--json"],
    ]
    chosen = [["validate", "{bundle}"]]
    if cams:
        chosen.append(pool[5])
        chosen.append(pool[3])
    chosen += rng.sample(pool, extra)
    out = []
    for c in chosen:
        if c not in out:
            out.append(c)
    return out


def raw_control(data):
    """The first raw control character of a command's output (C0 but newline
    and tab, DEL, C1, and the Unicode line separators and bidi overrides
    TerminalText escapes), or None. NO_COLOR is set, so cam draws ASCII."""
    text = data.decode("utf-8", errors="replace")
    for ch in text:
        o = ord(ch)
        if (o < 32 and ch not in "\n\t") or 0x7F <= o <= 0x9F or o in (0x2028, 0x2029) \
                or 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069:
            return o
    return None


def run(spurscope, args, bundle, timeout):
    """(exit status or None on timeout, the end of stderr, a raw control character printed or None)."""
    argv = [spurscope] + [a.replace("{bundle}", bundle) for a in args]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NO_COLOR="1")
    env.pop("COLORTERM", None)
    try:
        # stdin from /dev/null: a command must never wait for the terminal.
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env)
        control = raw_control(p.stdout) or raw_control(p.stderr)
        return p.returncode, p.stderr.decode("utf-8", errors="replace")[-2000:], control
    except subprocess.TimeoutExpired:
        return None, "timeout", None


def save_case(case_id, work, mutated, deleted, special, args, status, stderr, seed_label):
    d = os.path.join(CASES, case_id)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for rel in mutated:
        src = os.path.join(work, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        os.makedirs(os.path.join(d, "files", os.path.dirname(rel)), exist_ok=True)
        shutil.copy(src, os.path.join(d, "files", rel))
    if status is None:
        signame = "hang"
    elif isinstance(status, str):
        signame = status
    else:
        signame = signal.Signals(-status).name if status < 0 else str(status)
    with open(os.path.join(d, "case.json"), "w") as f:
        # Special files (FIFOs, directories, device links) cannot live in
        # git: FuzzCaseTests makes them again from "special".
        json.dump({"args": args, "deleted": deleted, "special": special, "found": f"{seed_label}: {signame}",
                   "stderr": stderr.strip().splitlines()[-3:]}, f, indent=2)
        f.write("\n")
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spurscope", default=os.path.join(ROOT, ".build", "debug", "spurscope"))
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--inputs", "--count", type=int, default=0, help="stop after this many inputs (0: only the time bound)")
    ap.add_argument("--seed", default=str(int(time.time())))
    ap.add_argument("--timeout", type=float, default=10, help="seconds after which a run counts as a hang")
    ap.add_argument("--extra", type=int, default=2, help="commands per input besides validate (and cam/eval on a mutated image)")
    ap.add_argument("--save", action="store_true", help="save crashing, hanging and control-character inputs as regression cases (default: on)", default=True)
    ap.add_argument("--no-save", dest="save", action="store_false")
    ap.add_argument("--log", help="append one JSON line per finding here")
    a = ap.parse_args()
    spurscope = os.path.abspath(a.spurscope)
    if not os.access(spurscope, os.X_OK):
        sys.exit(f"fuzz: {spurscope} is not an executable (build first: swift build)")
    examples = seed_examples()
    deadline = time.time() + 60 * a.minutes
    tmp = tempfile.mkdtemp(prefix="spurscope-fuzz-")
    template = make_workspace_template(spurscope, tmp)
    inputs = runs = crashes = hangs = controls = 0
    kinds = {}
    statuses = {}
    started = time.time()
    # SIGTERM ends the run like the time bound does: summary printed, temporaries removed.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    def finding(kind, label, i, args, detail, work, mutated, deleted, special, status, err):
        case = f"{kind}-{a.seed}-{i}-{args[0]}"
        where = save_case(case, work, mutated, deleted, special, args, status, err, label) if a.save else "(not saved)"
        print(f"{kind.upper()} {label}: {' '.join(args)} -> {detail}; saved {where}", flush=True)
        if a.log:
            with open(a.log, "a") as f:
                f.write(json.dumps({"kind": kind, "seed": a.seed, "input": i, "args": args, "detail": str(detail),
                                    "special": special, "stderr": err[-500:]}) + "\n")

    try:
        i = 0
        while time.time() < deadline and (a.inputs == 0 or inputs < a.inputs):
            rng = random.Random(f"{a.seed}:{i}")
            work = os.path.join(tmp, f"in{i}")
            mutated, deleted, cams, special, writer = make_input(rng, work, examples, template)
            inputs += 1
            for m in mutated:
                k = "workspace" if m == WORKSPACE else os.path.splitext(m)[1].lstrip(".") or m
                kinds[k] = kinds.get(k, 0) + 1
            for x in special:
                kinds["special:" + x.split("=")[1]] = kinds.get("special:" + x.split("=")[1], 0) + 1
            cmds = commands(rng, cams, examples, a.extra)
            if WORKSPACE in mutated:
                cmds += [c for c in (["decisions", "{bundle}"], ["detect", "{bundle}", "--min-support", "1"]) if c not in cmds]
            for args in cmds:
                status, err, control = run(spurscope, args, work, a.timeout)
                runs += 1
                statuses[status] = statuses.get(status, 0) + 1
                label = f"seed {a.seed} input {i}" + (" (writer held)" if writer else "")
                if status is None:
                    hangs += 1
                    finding("hang", label, i, args, f"over {a.timeout:g} s", work, mutated, deleted, special, None, err)
                elif status < 0 or status >= 128:
                    crashes += 1
                    finding("crash", label, i, args, status, work, mutated, deleted, special, status, err)
                if control is not None:
                    controls += 1
                    finding("control", label, i, args, f"printed U+{control:04X}", work, mutated, deleted, special,
                            "raw control character", err)
            if writer is not None:
                writer.close()
            shutil.rmtree(work, ignore_errors=True)
            i += 1
            if inputs % 100 == 0:
                print(f"{inputs} inputs, {runs} runs, {crashes} crashes, {hangs} hangs, {controls} control-character outputs "
                      f"({time.time() - started:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"seed": a.seed, "inputs": inputs, "runs": runs, "crashes": crashes, "hangs": hangs,
                      "control_character_outputs": controls, "timeout_seconds": a.timeout,
                      "mutated": dict(sorted(kinds.items())),
                      "exit_statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
                      "seconds": round(time.time() - started)}), flush=True)
    sys.exit(1 if crashes or hangs or controls else 0)


if __name__ == "__main__":
    main()
