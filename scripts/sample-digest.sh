#!/usr/bin/env bash
# One SHA-256 over the integer-exact part of a synthetic bundle: images,
# masks, CSVs, manifest and recipe. Features are floats from BLAS, whose last
# bits may differ across CPUs (DESIGN.md, "Determinism"), so they are left out.
set -euo pipefail
cd "$1"
{
  sha256sum manifest.json recipe.json examples.csv attributes.csv prompts.csv
  find images masks -type f -name '*.png' | LC_ALL=C sort | xargs sha256sum
} | sha256sum | cut -d' ' -f1
