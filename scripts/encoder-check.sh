#!/usr/bin/env bash
# usage: encoder-check.sh SPURSCOPE RECIPE ENCODER
# Pre-trains the encoder of RECIPE again and compares it with the committed
# ENCODER byte for byte, so the file cannot drift from the code and recipe
# that claim to make it. Float results depend on the BLAS kernel (DESIGN.md,
# "Determinism"): on a machine whose OpenBLAS runs another kernel than the
# one recorded in the file, the bytes cannot match, and the check says so
# instead of failing. A missing or unreadable ENCODER always fails.
set -euo pipefail
spurscope=$1 recipe=$2 committed=$3
core() { head -c 4096 "$1" | grep -ao '"blas_core":"[^"]*"' | cut -d'"' -f4 || true; }
if [ ! -f "$committed" ] || [ -z "$(core "$committed")" ]; then
  echo "error: $committed is missing or not an encoder written by spurscope synth --encoder" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$spurscope" synth --recipe "$recipe" --encoder "$tmp/encoder.safetensors" --encoder-only --quiet >/dev/null
if cmp -s "$tmp/encoder.safetensors" "$committed"; then
  echo "$committed: pre-trained again from $recipe, byte for byte the same"
elif [ "$(core "$tmp/encoder.safetensors")" != "$(core "$committed")" ]; then
  echo "$committed: NOT compared: it was made with OpenBLAS kernel $(core "$committed") and this machine runs $(core "$tmp/encoder.safetensors"), whose last bits differ"
else
  echo "error: $committed differs from the encoder pre-trained from $recipe; rebuild it:" >&2
  echo "  spurscope synth --recipe $recipe --encoder $committed --encoder-only --force" >&2
  exit 1
fi
