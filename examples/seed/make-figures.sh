#!/usr/bin/env bash
# Trains the tutorial's runs and draws the README figures ("From the tutorial").
# Usage: examples/seed/make-figures.sh [svg|png]   (png needs the npm package @resvg/resvg-js)
set -u
cd "$(dirname "$0")/../.."
ext="${1:-png}"
runs="data/seed"
figures="examples/seed/figures"
mkdir -p "$runs" "$figures"
bnserve() { node bin/bnserve.js "$@"; }

# 1. Raw features, lr 0.01: diverges. Exit 5 is expected; the run is kept in $runs/adaline-raw-lr0.01.diverged.
bnserve train --config examples/seed/adaline-raw-lr0.01.json --out "$runs/adaline-raw-lr0.01" --no-export
test $? -eq 5 || { echo "expected the lr 0.01 run on raw features to diverge (exit 5)" >&2; exit 1; }
# 2. Raw features, lr 0.0001: converges, slowly.
bnserve train --config examples/seed/adaline-raw-lr0.0001.json --out "$runs/adaline-raw-lr0.0001" --no-export || exit 1
# 3. Standardised features, lr 0.01: converges in 15 epochs, every row right.
bnserve train --config examples/seed/adaline-std-lr0.01.json --out "$runs/adaline-std-lr0.01" --no-export || exit 1
# 4. A BN network with the tutorial's decay/epsilon.
bnserve train --config examples/seed/bn-decay.json --out "$runs/bn-decay" --no-export || exit 1

bnserve report --runs "$runs/adaline-raw-lr0.01.diverged,$runs/adaline-raw-lr0.0001" --out "$figures/learning-rates.$ext" || exit 1
bnserve report --checkpoint "$runs/adaline-std-lr0.01" --out "$figures/adaline-standardised.$ext" || exit 1
bnserve report --checkpoint "$runs/bn-decay" --features petal_length,petal_width --out "$figures/bn-decay.$ext" || exit 1
