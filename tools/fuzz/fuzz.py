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
                       2**63 - 1, 2**63, 2**64, -2**31, -2**63, 1e308, -1e308, 1e-320, 0.5, -0.0]
INTERESTING_STRINGS = ["", " ", "-1", "0", "1", "2", "nan", "NaN", "inf", "-inf", "1e40", "-1e40", "0x10",
                       "99999999999999999999", "1.5", "  1", "yes", "\"", "a,b", "\u00e9\u6f22\U0001F426",
                       "x" * 5000, "images/../manifest.json", "/dev/zero", "/dev/null", "manifest.json",
                       "features.safetensors", "images", "/nonexistent/x.png", "{}", "a photo of {}.",
                       "{} {}", "train", "val", "test", "landbird", "waterbird", "water"]


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
    text = json.dumps(doc, allow_nan=True, indent=1)
    if rng.random() < 0.05:
        text = text.replace("0.5", "NaN", 1)
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


# ---------------------------------------------------------------- inputs

def seed_examples():
    import csv
    rows = list(csv.DictReader(open(os.path.join(SEED, "examples.csv"))))
    return rows


def make_input(rng, work, examples):
    """Copies the seed to `work`, mutates it; returns (mutated relative paths, deleted, example ids worth a cam)."""
    shutil.copytree(SEED, work)
    files = ["manifest.json", "examples.csv", "attributes.csv", "prompts.csv", "features.safetensors"]
    images = sorted({r["image"] for r in examples} | {r["mask"] for r in examples if r["mask"]})
    mutated, deleted, cams = [], [], []
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        r = rng.random()
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
        if rel in deleted:
            continue
        mutate_file(os.path.join(work, rel), rng)
        if rel not in mutated:
            mutated.append(rel)
    return mutated, deleted, cams


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


def run(spurscope, args, bundle, timeout):
    argv = [spurscope] + [a.replace("{bundle}", bundle) for a in args]
    try:
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
                           env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        return p.returncode, p.stderr.decode("utf-8", errors="replace")[-2000:]
    except subprocess.TimeoutExpired:
        return None, "timeout"


def save_case(case_id, work, mutated, deleted, args, status, stderr, seed_label):
    d = os.path.join(CASES, case_id)
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for rel in mutated:
        os.makedirs(os.path.join(d, "files", os.path.dirname(rel)), exist_ok=True)
        shutil.copy(os.path.join(work, rel), os.path.join(d, "files", rel))
    signame = signal.Signals(-status).name if status is not None and status < 0 else str(status)
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump({"args": args, "deleted": deleted, "found": f"{seed_label}: {signame}",
                   "stderr": stderr.strip().splitlines()[-3:]}, f, indent=2)
        f.write("\n")
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spurscope", default=os.path.join(ROOT, ".build", "debug", "spurscope"))
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--inputs", type=int, default=0, help="stop after this many inputs (0: only the time bound)")
    ap.add_argument("--seed", default=str(int(time.time())))
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--extra", type=int, default=2, help="commands per input besides validate (and cam/eval on a mutated image)")
    ap.add_argument("--save", action="store_true", help="save crashing inputs as regression cases (default: on)", default=True)
    ap.add_argument("--no-save", dest="save", action="store_false")
    ap.add_argument("--log", help="append one JSON line per finding here")
    a = ap.parse_args()
    spurscope = os.path.abspath(a.spurscope)
    if not os.access(spurscope, os.X_OK):
        sys.exit(f"fuzz: {spurscope} is not an executable (build first: swift build)")
    examples = seed_examples()
    deadline = time.time() + 60 * a.minutes
    tmp = tempfile.mkdtemp(prefix="spurscope-fuzz-")
    inputs = runs = crashes = timeouts = 0
    statuses = {}
    started = time.time()
    # SIGTERM ends the run like the time bound does: summary printed, temporaries removed.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        i = 0
        while time.time() < deadline and (a.inputs == 0 or inputs < a.inputs):
            rng = random.Random(f"{a.seed}:{i}")
            work = os.path.join(tmp, f"in{i}")
            mutated, deleted, cams = make_input(rng, work, examples)
            inputs += 1
            for args in commands(rng, cams, examples, a.extra):
                status, err = run(spurscope, args, work, a.timeout)
                runs += 1
                statuses[status] = statuses.get(status, 0) + 1
                label = f"seed {a.seed} input {i}"
                if status is None:
                    timeouts += 1
                    print(f"TIMEOUT {label}: {' '.join(args)}", flush=True)
                    if a.log:
                        with open(a.log, "a") as f:
                            f.write(json.dumps({"kind": "timeout", "seed": a.seed, "input": i, "args": args}) + "\n")
                elif status < 0 or status >= 128:
                    crashes += 1
                    case = f"crash-{a.seed}-{i}-{args[0]}"
                    where = save_case(case, work, mutated, deleted, args, status, err, label) if a.save else "(not saved)"
                    print(f"CRASH {label}: {' '.join(args)} -> {status}; saved {where}", flush=True)
                    if a.log:
                        with open(a.log, "a") as f:
                            f.write(json.dumps({"kind": "crash", "seed": a.seed, "input": i, "args": args, "status": status,
                                                "stderr": err[-500:]}) + "\n")
            shutil.rmtree(work, ignore_errors=True)
            i += 1
            if inputs % 100 == 0:
                print(f"{inputs} inputs, {runs} runs, {crashes} crashes, {timeouts} timeouts "
                      f"({time.time() - started:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"seed": a.seed, "inputs": inputs, "runs": runs, "crashes": crashes, "timeouts": timeouts,
                      "exit_statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
                      "seconds": round(time.time() - started)}), flush=True)
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
