#!/usr/bin/env bash
# Reproduces docs/results/: every method at 256² and 512², centre and free-form holes, on the report half of the
# shared photos (photos=report: no setting was ever chosen on them; docs/results.md, "Protocol").
#   PHOTOS=../shared/data/photos bash benchmarks/make_results.sh
# IMAGES (12: all of the report half), PRESET_IMAGES (3: synthesis=paper|authors take 1–2 min a photo) and
# PRIORS_512 (0: the prior variants at 512² are skipped unless 1) bound the cost.
# Never point PHOTOS at the reserved evaluation sources (plasma-workspace-wallpapers, OpenCV's samples).
# Each comparison is up to three evaluate.py runs on the same seeded set (the default and its prior variants with
# the baselines; synthesis=paper; synthesis=authors) aggregated into one table (setting "-" = the default).
set -euo pipefail
cd "$(dirname "$0")/.."
photos=${PHOTOS:-../shared/data/photos}
out=docs/results
mkdir -p "$out"
compare() {  # name, methods, preset images (0 = none), evaluate.py arguments...
  local name=$1 methods=$2 presets=$3
  shift 3
  local dir=outputs/results/$name
  rm -rf "$dir"
  local common=(data=folder "data.root=$photos" photos=report wandb=false "$@")
  python evaluate.py "${common[@]}" "eval.max_images=${IMAGES:-12}" "method=$methods" "hydra.run.dir=$dir/0"
  if [ "$presets" -gt 0 ]; then
    python evaluate.py "${common[@]}" "eval.max_images=$presets" synthesis=paper "method=[nps]" "hydra.run.dir=$dir/1"
    python evaluate.py "${common[@]}" "eval.max_images=$presets" synthesis=authors "method=[nps]" "hydra.run.dir=$dir/2"
  fi
  python -m neuralpatch.evaluation.multirun "$dir" > /dev/null
  cp "$dir/ablation.md" "$out/$name.md"
  cp "$dir/0/grid.png" "$out/$name.png"
}
all="[nps,nps_softened_telea,nps_telea,nps_mean,nps_navier_stokes,nps_patchmatch,telea,navier_stokes,patchmatch]"
baselines="[nps,nps_softened_telea,telea,navier_stokes,patchmatch]"  # and the previous default
compare centre_256 "$all" "${PRESET_IMAGES:-3}" eval.image_size=256 masks=center
compare freeform_256 "$all" "${PRESET_IMAGES:-3}" eval.image_size=256 masks=irregular
large=$([ "${PRIORS_512:-0}" = 1 ] && echo "$all" || echo "$baselines")
compare centre_512 "$large" 0 eval.image_size=512 masks=center
compare freeform_512 "$large" 0 eval.image_size=512 masks=irregular
