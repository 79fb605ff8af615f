#!/usr/bin/env python3
"""Reference minimisers for spurscope's logistic regression, in float64.

Objective (LogisticRegression.swift):
    J(W, b) = sum_i w_i CE_i / sum_i w_i + (l2/2)||W||^2 + l1 ||W||_1,
    CE_i = logsumexp(z_i) - z_{i,y_i},  z_i = W xs_i + b,
with xs the standardised features (mean 0, population std 1 per column,
measured on the fitting rows) when `standardize`, the bias unpenalised and
reported centred (sum 0; the softmax ignores a common shift).

Without L1 the minimiser is found by Newton's method on the full Hessian
(least-squares steps, so the bias-shift null direction does no harm); with
L1 by scipy's L-BFGS-B on the split W = P - N, P, N >= 0, which turns the
L1 term into a linear one. Both are independent of the Swift solver.

Writes logistic_reference.json next to this script:
    python3 make_logistic_reference.py
"""
import json
import os

import numpy as np
from scipy.optimize import minimize

rng = np.random.default_rng(20240611)
N, D, C = 90, 4, 3
labels = rng.integers(0, C, size=N)
centres = rng.normal(size=(C, D)) * 1.5
x = centres[labels] + rng.normal(size=(N, D))
x[:, 1] *= 20.0      # columns on very different scales: standardisation matters
x[:, 2] += 5.0
weights = rng.uniform(0.5, 2.0, size=N)


def standardise(x):
    m = x.mean(axis=0)
    s = x.std(axis=0)
    s[s < 1e-12] = 1.0
    return (x - m) / s


def smooth(theta, xs, w, l2):
    W = theta[: C * D].reshape(C, D)
    b = theta[C * D:]
    z = xs @ W.T + b
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    wn = w / w.sum()
    value = np.sum(wn * (lse - z[np.arange(N), labels])) + 0.5 * l2 * np.sum(W * W)
    p = np.exp(z - lse[:, None])
    p[np.arange(N), labels] -= 1.0
    r = p * wn[:, None]
    gW = r.T @ xs + l2 * W
    gb = r.sum(axis=0)
    return value, np.concatenate([gW.ravel(), gb]), p, wn


def newton(xs, w, l2):
    theta = np.zeros(C * D + C)
    xa = np.hstack([xs, np.ones((N, 1))])   # [N, D+1]
    for _ in range(100):
        value, g, _, wn = smooth(theta, xs, w, l2)
        W = theta[: C * D].reshape(C, D)
        z = xs @ W.T + theta[C * D:]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        # Hessian in (class, feature) blocks: sum_i wn_i (diag(p_i) - p_i p_i^T) (x) xa_i xa_i^T.
        H = np.zeros((C * (D + 1), C * (D + 1)))
        for i in range(N):
            S = np.diag(p[i]) - np.outer(p[i], p[i])
            H += wn[i] * np.kron(S, np.outer(xa[i], xa[i]))
        for c in range(C):
            for d in range(D):
                H[c * (D + 1) + d, c * (D + 1) + d] += l2
        # Reorder the gradient to the (class, feature+bias) layout of H.
        gW = g[: C * D].reshape(C, D)
        ga = np.hstack([gW, g[C * D:][:, None]]).ravel()
        step = np.linalg.lstsq(H, ga, rcond=None)[0].reshape(C, D + 1)
        theta[: C * D] -= step[:, :D].ravel()
        theta[C * D:] -= step[:, D]
        if np.abs(g).max() < 1e-14:
            break
    return theta


def split_l1(xs, w, l2, l1):
    P = C * D

    def fun(u):
        pos, neg, b = u[:P], u[P:2 * P], u[2 * P:]
        theta = np.concatenate([pos - neg, b])
        value, g, _, _ = smooth(theta, xs, w, l2)
        value += l1 * (pos.sum() + neg.sum())
        gW = g[:P]
        return value, np.concatenate([gW + l1, -gW + l1, g[P:]])

    u0 = np.zeros(2 * P + C)
    bounds = [(0, None)] * (2 * P) + [(None, None)] * C
    r = minimize(fun, u0, jac=True, method="L-BFGS-B", bounds=bounds,
                 options={"maxiter": 100000, "maxfun": 100000, "ftol": 1e-16, "gtol": 1e-12, "maxcor": 30})
    u = r.x
    return np.concatenate([u[:P] - u[P:2 * P], u[2 * P:]])


cases = []
for name, l2, l1, std, use_weights in [
    ("l2-standardised-weighted", 0.05, 0.0, True, True),
    ("l2-raw-unweighted", 0.01, 0.0, False, False),
    ("l1-standardised", 0.01, 0.03, True, False),
]:
    xs = standardise(x) if std else x
    w = weights if use_weights else np.ones(N)
    theta = newton(xs, w, l2) if l1 == 0 else split_l1(xs, w, l2, l1)
    value, _, _, _ = smooth(theta, xs, w, l2)
    value += l1 * np.abs(theta[: C * D]).sum()
    b = theta[C * D:]
    cases.append({
        "name": name, "l2": l2, "l1": l1, "standardize": std, "weighted": use_weights,
        "weights": theta[: C * D].tolist(), "bias": (b - b.mean()).tolist(), "objective": value,
    })

out = {"classes": C, "features": x.ravel().tolist(), "rows": N, "cols": D,
       "labels": labels.tolist(), "sample_weights": weights.tolist(), "cases": cases}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "logistic_reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
