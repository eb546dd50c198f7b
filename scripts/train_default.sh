#!/usr/bin/env bash
# The shipped model's training recipe (models/README.md, "How it was made"), end to end and
# timed, as one command: run 1 (epochs 1-10 of a 12-epoch schedule from the ImageNet
# weights), a 5-epoch warm restart from it, the weight mean of run 1 and the restart's
# epochs 4 and 5, then `rustseg tune --learned` on the held-out close-ups and
# classification/val. Decoded photos are cached under OUT/cache, empty on a first run, so
# the decoding is counted.
#
#   scripts/train_default.sh [DATA_DIR] [OUT_DIR] [TRAIN_OPTION...]
#
# (defaults: ../shared/data runs/recipe). Options after OUT_DIR go to both training runs,
# e.g. --deterministic for a run that repeats bit for bit on one machine.
#
# Needs requirements-train.txt (the ImageNet weights). Writes OUT/avg3 (the model, ready for
# `rustseg export` and `rustseg evaluate`) and prints each step's wall time and the total;
# OUT/times.tsv keeps them. A rerun resumes an interrupted training run and redoes the rest.
set -euo pipefail
DATA=${1:-../shared/data}
OUT=${2:-runs/recipe}
mkdir -p "$OUT"
rustseg() { python3 -m rustseg_core "$@"; }
P=("$DATA/classification" --masks "$DATA/pixel/train" --input-size 320 --cache-dir "$OUT/cache" "${@:3}")
: > "$OUT/times.tsv"

step() {  # step NAME COMMAND...: run it, log its wall time
    local name=$1 start=$SECONDS
    shift
    echo "== $name: $*" >&2
    "$@"
    printf '%s\t%d\n' "$name" $((SECONDS - start)) >> "$OUT/times.tsv"
}

step run1 rustseg -v train "${P[@]}" --out "$OUT/run1" --epochs 12 --stop-after 10
step restart rustseg -v train "${P[@]}" --out "$OUT/run2" --epochs 5 --lr 3e-4 --warmup-epochs 1 \
    --keep-epochs 2 --init-from "$OUT/run1"
rm -rf "$OUT/avg3"
step average rustseg average --base "$OUT/run2" "$OUT/run1" "$OUT/run2/epoch-04.weights.h5" \
    "$OUT/run2/epoch-05.weights.h5" --out "$OUT/avg3"
step tune rustseg tune --learned --masks "$DATA/pixel/train" --images "$DATA/classification/val" \
    --model "$OUT/avg3" --write

awk -F'\t' '{printf "%-8s %6d s\n", $1, $2; t += $2} END {printf "%-8s %6d s (%.0f min)\n", "total", t, t / 60}' \
    "$OUT/times.tsv"
