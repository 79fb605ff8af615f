"""Independent float64 reference for spurscope's loss terms (DESIGN.md "Losses",
and "Paper vs the authors' code" for the `official_*` entries).

Writes `loss_batch.safetensors` with the Python `safetensors` package (so the
Swift reader is tested on a file made by another implementation) and
`loss_reference.json` with every term's value and its gradients by central
finite differences. Written from the formulas, loop by loop, sharing nothing
with the Swift code. Re-run with: python3 make_loss_reference.py
"""
import json
import numpy as np
from safetensors.numpy import save_file

rng = np.random.default_rng(20230601)
B, Dv, Dt, E, C, K = 7, 5, 4, 3, 2, 3
image = rng.normal(size=(B, Dv)).astype(np.float32)
label = np.array([0, 1, 0, 1, 1, 0, 0], dtype=np.int32)
attr = np.array([1, 0, 0, 1, -1, 1, 1], dtype=np.int32)
caption = rng.normal(size=(B, Dt)).astype(np.float32)
class_templates = rng.normal(size=(C, K, Dt)).astype(np.float32)
group_templates = rng.normal(size=(C, 2, K, Dt)).astype(np.float32)
W_v = (rng.normal(size=(E, Dv)) * 0.5).astype(np.float32)
W_t = (rng.normal(size=(E, Dt)) * 0.5).astype(np.float32)
logit_scale = np.array(np.log(3.0), dtype=np.float32)
# Drawn last so the tensors above (and the paper-form reference) stay as they were.
# Row 0: the absent value's word prompt, row 1: the present one's.
attr_prompts = rng.normal(size=(2, Dt)).astype(np.float32)

save_file({"image": image, "label": label, "attr": attr, "caption": caption,
           "class_templates": class_templates, "group_templates": group_templates,
           "attr_prompts": attr_prompts,
           "W_v": W_v, "W_t": W_t, "logit_scale": logit_scale},
          "loss_batch.safetensors")


def normalize(x):
    return x / np.linalg.norm(x)


def cs(emb, groups, s):
    """CS construct: loop over anchors; skip anchors without positives."""
    n = len(emb)
    losses = []
    for i in range(n):
        if groups[i] < 0:
            continue
        pos = [j for j in range(n) if j != i and groups[j] == groups[i]]
        neg = [j for j in range(n) if groups[j] >= 0 and groups[j] != groups[i]]
        if not pos:
            continue
        denom = sum(np.exp(s * emb[i] @ emb[j]) for j in pos + neg)
        losses.append(-np.mean([np.log(np.exp(s * emb[i] @ emb[p]) / denom) for p in pos]))
    return float(np.mean(losses)) if losses else 0.0


def terms(Wv, Wt, ls):
    s = min(np.exp(ls), 100.0)
    v = np.array([normalize(Wv @ x) for x in image.astype(np.float64)])
    tc = np.array([normalize(Wt @ u) for u in caption.astype(np.float64)])
    # CLIP: symmetric cross-entropy with the diagonal as target.
    logits = s * v @ tc.T
    rows = -np.mean([logits[i, i] - np.log(np.sum(np.exp(logits[i]))) for i in range(B)])
    cols = -np.mean([logits[j, j] - np.log(np.sum(np.exp(logits[:, j]))) for j in range(B)])
    out = {"clip": 0.5 * (rows + cols)}
    out["vc"] = cs(v, list(label), s)
    out["vs"] = cs(v, [-1 if a < 0 else 2 * y + a for y, a in zip(label, attr)], s)
    tk = [normalize(Wt @ class_templates[c, k].astype(np.float64)) for c in range(C) for k in range(K)]
    out["lc"] = cs(np.array(tk), [c for c in range(C) for k in range(K)], s)
    tg = [normalize(Wt @ group_templates[c, a, k].astype(np.float64))
          for c in range(C) for a in range(2) for k in range(K)]
    out["ls"] = cs(np.array(tg), [2 * c + a for c in range(C) for a in range(2) for k in range(K)], s)
    # Classification CE against template-averaged class embeddings.
    cls = np.array([normalize(np.mean(tk[c * K:(c + 1) * K], axis=0)) for c in range(C)])
    ce = []
    for i in range(B):
        z = s * cls @ v[i]
        ce.append(np.log(np.sum(np.exp(z))) - z[label[i]])
    out["ce"] = float(np.mean(ce))

    # The authors' form. In-modal terms: per anchor i, over every j (i included),
    # -mean_j cos_ij [same] + mean_j cos_ij [different]; then the mean over anchors.
    def mean_cosine(emb, groups):
        n = len(emb)
        per_anchor = []
        for i in range(n):
            same = [emb[i] @ emb[j] if groups[i] == groups[j] else 0.0 for j in range(n)]
            diff = [emb[i] @ emb[j] if groups[i] != groups[j] else 0.0 for j in range(n)]
            per_anchor.append(-np.mean(same) + np.mean(diff))
        return float(np.mean(per_anchor))

    # CLIP against the class embedding of each sample's own label.
    logits = np.array([[s * v[i] @ cls[label[j]] for j in range(B)] for i in range(B)])
    rows = -np.mean([logits[i, i] - np.log(np.sum(np.exp(logits[i]))) for i in range(B)])
    cols = -np.mean([logits[j, j] - np.log(np.sum(np.exp(logits[:, j]))) for j in range(B)])
    out["official_clip"] = 0.5 * (rows + cols)
    out["official_vc"] = mean_cosine(v, list(label))
    out["official_lc"] = mean_cosine(np.array(tk), [c for c in range(C) for k in range(K)])
    words = [normalize(Wt @ u) for u in attr_prompts.astype(np.float64)]
    out["official_ls"] = float(np.mean([abs(t @ w) for t in tk for w in words]))
    # Cross-entropy over the two value prompts, images with a known value only.
    vs = []
    for i in range(B):
        if attr[i] < 0:
            continue
        z = np.array([s * v[i] @ w for w in words])
        vs.append(np.log(np.sum(np.exp(z))) - z[attr[i]])
    out["official_vs"] = float(np.mean(vs))
    return out


base = terms(W_v.astype(np.float64), W_t.astype(np.float64), float(logit_scale))
h = 1e-6
reference = {}
for name in base:
    grads = {}
    for pname, shape in (("W_v", W_v.shape), ("W_t", W_t.shape)):
        g = np.zeros(shape)
        for idx in np.ndindex(*shape):
            args = [W_v.astype(np.float64).copy(), W_t.astype(np.float64).copy(), float(logit_scale)]
            which = 0 if pname == "W_v" else 1
            args[which][idx] += h
            up = terms(*args)[name]
            args[which][idx] -= 2 * h
            down = terms(*args)[name]
            g[idx] = (up - down) / (2 * h)
        grads[pname] = g.ravel().tolist()
    up = terms(W_v.astype(np.float64), W_t.astype(np.float64), float(logit_scale) + h)[name]
    down = terms(W_v.astype(np.float64), W_t.astype(np.float64), float(logit_scale) - h)[name]
    grads["logit_scale"] = (up - down) / (2 * h)
    reference[name] = {"value": base[name], **grads}

with open("loss_reference.json", "w") as f:
    json.dump(reference, f, indent=1)
print({k: round(v["value"], 6) for k, v in reference.items()})
