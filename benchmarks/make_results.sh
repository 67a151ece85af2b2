#!/usr/bin/env bash
# Reproduces docs/results/: the method comparison (paper protocol and free-form masks) and the ablations.
# CPU-sized: few images and a reduced schedule where noted; CONTENT=path/to/last.ckpt adds nps and content_only.
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/results
mkdir -p "$out"
content=()
methods="[nps_no_content,patchmatch,telea]"
if [ -n "${CONTENT:-}" ]; then
  content=("content.ckpt=$CONTENT")
  methods="[nps,nps_no_content,content_only,patchmatch,telea]"
fi
run() {  # name, evaluate.py arguments...
  local name=$1; shift
  python evaluate.py "$@" "${content[@]}" wandb=false hydra.run.dir="outputs/results/$name"
  cp "outputs/results/$name/results.md" "$out/$name.md"
  cp "outputs/results/$name/grid.png" "$out/$name.png"
}
run paper_protocol "method=$methods" eval.image_size=512 eval.max_images=3 synthesis.iterations=30
run freeform "method=$methods" masks=irregular eval.image_size=256 eval.max_images=4
for ablation in alpha levels layers optimizer; do
  python evaluate.py -m "experiment=ablation_$ablation" eval.image_size=256 eval.max_images=2 \
    synthesis.iterations=30 wandb=false hydra.sweep.dir="multirun/results/ablation_$ablation"
  cp "multirun/results/ablation_$ablation/ablation.md" "$out/ablation_$ablation.md"
  cp "multirun/results/ablation_$ablation/ablation.png" "$out/ablation_$ablation.png"
done
