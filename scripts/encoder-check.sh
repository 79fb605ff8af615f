#!/usr/bin/env bash
# usage: encoder-check.sh SPURSCOPE RECIPE ENCODER
# Pre-trains the encoder of RECIPE again and compares it with the committed
# ENCODER byte for byte, so the file can never drift from the code and recipe
# that claim to make it. Float results depend on the BLAS kernel (DESIGN.md,
# "Determinism"): on a machine whose OpenBLAS runs another kernel than the
# one recorded in the file, the bytes cannot match and the check says so.
set -euo pipefail
spurscope=$1 recipe=$2 committed=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$spurscope" synth --recipe "$recipe" --encoder "$tmp/encoder.safetensors" --encoder-only --quiet >/dev/null
core() { head -c 4096 "$1" | grep -ao '"blas_core":"[^"]*"' | cut -d'"' -f4; }
if cmp -s "$tmp/encoder.safetensors" "$committed"; then
  echo "$committed: pre-trained again from $recipe, byte for byte the same"
elif [ "$(core "$tmp/encoder.safetensors")" != "$(core "$committed")" ]; then
  echo "$committed: not compared: made with OpenBLAS kernel $(core "$committed"), this machine runs $(core "$tmp/encoder.safetensors")"
else
  echo "error: $committed differs from the encoder pre-trained from $recipe; rebuild it:" >&2
  echo "  spurscope synth --recipe $recipe --encoder $committed --encoder-only --force" >&2
  exit 1
fi
