"""The expert's own words on an extracted bundle, in the real terminal UI
(tmux, keys sent, the screen captured): screen 1 ranks a small bundle's
attributes once the UI is started with a support it can meet, a verdict
brings the orth-proj preview with the default phrases, and phrases edited in
place bring a preview for words the extraction never encoded (encoded live
by the checkpoint the bundle records). Also: an empty table says why."""

import csv
import os
import subprocess
import time

import numpy as np
from PIL import Image, ImageDraw

from conftest import CLASSES, spurscope, spurscope_binary


class Tmux:
    """One UI in a private tmux server."""

    def __init__(self, args, width=200, height=40):
        self.socket = f"spurscope-test-{os.getpid()}-{time.monotonic_ns()}"
        # The terminal's own size, not one inherited from pytest's environment;
        # EXITED marks a UI that quit (or crashed) instead of hanging.
        command = ("env -u NO_COLOR -u COLORTERM -u LINES -u COLUMNS "
                   + " ".join(f"'{a}'" for a in [spurscope_binary(), *map(str, args)]) + "; echo EXITED $?; sleep 60")
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", str(width), "-y", str(height), command)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def send(self, *keys):
        self.tmux("send-keys", "-t", "ui", *keys)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "ui")

    def wait(self, predicate, timeout=30):
        """The screen once `predicate` holds and the UI says it is ready; fails
        loudly with the last screen otherwise."""
        deadline, screen = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen) and "ready" in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"the screen waited for did not appear in {timeout} s; the last screen:\n{screen}")

    def close(self):
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def small_bundle(work, clip_dir):
    """48 photos (500 × 375 and 375 × 500 JPEGs), half with a blue band of
    'water'; extracted natively, with detections of 'water' from that truth."""
    images = work / "ui-images"
    images.mkdir()
    rng = np.random.default_rng(5)
    rows = []
    for i in range(48):
        w, h = (500, 375) if i % 2 else (375, 500)
        water = (i // 2) % 2
        img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(60, 200, 3)))
        draw = ImageDraw.Draw(img)
        if water:
            draw.rectangle([0, 2 * h // 3, w, h], fill=(30, 60, 200))
        draw.ellipse([w // 4, h // 4, w // 2, h // 2], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        img.save(images / f"{i:02d}.jpg", quality=90)
        rows.append([f"u{i:02d}", f"{i:02d}.jpg", CLASSES[i % 2], ["val", "test", "train"][i % 3], str(water)])
    labels = work / "ui-labels.csv"
    with open(labels, "w", newline="") as f:
        csv.writer(f).writerows([["id", "image", "label", "split", "attr:water"]] + rows)
    words = work / "ui-words.txt"
    words.write_text("water\ntree\n")
    out = work / "ui-bundle"
    spurscope("extract", "--checkpoint", clip_dir, "--images", images, "--labels", labels, "--vocabulary", words,
              "--out", out, "--quiet")
    with open(out / "attributes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "attribute", "score"])
        for r in rows:
            w.writerow([r[0], "water", "0.9" if r[4] == "1" else "0.1"])
            w.writerow([r[0], "tree", "0.2"])
    spurscope("validate", out)
    return out


def test_edited_phrases_reach_the_orth_proj_preview_on_an_extracted_bundle(work, clip_dir):
    bundle = small_bundle(work, clip_dir)
    # 16 val examples, 8 per class: the default support (10 each side) finds nothing, and says why.
    r = spurscope("detect", bundle, "--class", CLASSES[0])
    assert "no attribute with 10+ examples on both sides: landbird has 8 examples" in r.stdout, r.stdout
    assert "--min-support" in r.stdout
    ui = Tmux(["ui", bundle, "--workspace", work / "ui-ws-empty"])
    try:
        empty = ui.wait(lambda s: "Class landbird" in s)
        assert "landbird has 8 examples" in empty and "--min-support" in empty, empty
    finally:
        ui.close()

    ui = Tmux(["ui", bundle, "--workspace", work / "ui-ws", "--min-support", "3"])
    try:
        ui.wait(lambda s: "Class landbird" in s and "water" in s)
        ui.send("s")
        marked = ui.wait(lambda s: "orth-proj preview (" in s and "“with " in s)
        line = next(l for l in marked.splitlines() if "orth-proj preview (" in l)
        attribute = line.split("(", 1)[1].split(")", 1)[0]
        assert f"“with {attribute}”" in line and "misty" not in line, line
        ui.send("n")
        ui.wait(lambda s: "phrase present" in s)
        ui.send("Tab")
        for _ in range(len(f"with {attribute}")):
            ui.send("BSpace")
        ui.send("-l", "on a misty lake")
        ui.send("Enter")
        edited = ui.wait(lambda s: "“on a misty lake”" in s and "updating…" not in s, timeout=60)
        after = next(l for l in edited.splitlines() if "orth-proj preview (" in l)
        assert "“on a misty lake”" in after and "test worst group" in after, after
        assert "EXITED" not in edited
    finally:
        ui.close()
    # The new words were encoded by the recorded checkpoint, never written into the bundle.
    assert "on a misty lake" not in (bundle / "prompts.csv").read_text()
