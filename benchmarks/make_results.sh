#!/usr/bin/env bash
# Reproduces docs/results/: every method at 256² and 512², centre and free-form holes, on the shared photos.
#   PHOTOS=../shared/data/photos IMAGES_256=5 IMAGES_512=2 bash benchmarks/make_results.sh
# Never point PHOTOS at the reserved evaluation sources (plasma-workspace-wallpapers, OpenCV's samples).
# Each comparison is three evaluate.py runs on the same seeded set (the default and its prior variants with the
# baselines; synthesis=paper; synthesis=authors) aggregated into one table (setting "-" = the default synthesis).
set -euo pipefail
cd "$(dirname "$0")/.."
photos=${PHOTOS:-../shared/data/photos}
out=docs/results
mkdir -p "$out"
methods="[nps,nps_mean,nps_navier_stokes,nps_patchmatch,telea,navier_stokes,patchmatch]"
compare() {  # name, images, evaluate.py arguments...
  local name=$1 images=$2
  shift 2
  local dir=outputs/results/$name
  rm -rf "$dir"
  local common=(data=folder "data.root=$photos" "eval.max_images=$images" wandb=false "$@")
  python evaluate.py "${common[@]}" "method=$methods" "hydra.run.dir=$dir/0"
  python evaluate.py "${common[@]}" synthesis=paper "method=[nps]" "hydra.run.dir=$dir/1"
  python evaluate.py "${common[@]}" synthesis=authors "method=[nps]" "hydra.run.dir=$dir/2"
  python -m neuralpatch.evaluation.multirun "$dir" > /dev/null
  cp "$dir/ablation.md" "$out/$name.md"
  python - "$dir" "$out/$name.png" <<'PY'
import sys
import numpy as np
from PIL import Image
# the presets' columns (paper, authors) beside the default run's grid: input | default methods | paper | authors | truth
runs = [np.asarray(Image.open(f"{sys.argv[1]}/{job}/grid.png")) for job in (0, 1, 2)]
cell = runs[1].shape[1] // 3  # input | nps | ground truth
Image.fromarray(np.concatenate([runs[0][:, :-cell], runs[1][:, cell:2 * cell], runs[2][:, cell:]], axis=1)).save(sys.argv[2])
PY
}
compare centre_256 "${IMAGES_256:-5}" eval.image_size=256 masks=center
compare freeform_256 "${IMAGES_256:-5}" eval.image_size=256 masks=irregular
compare centre_512 "${IMAGES_512:-2}" eval.image_size=512 masks=center
compare freeform_512 "${IMAGES_512:-2}" eval.image_size=512 masks=irregular
