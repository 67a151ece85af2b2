#!/usr/bin/env bash
# A lent GPU's session for issue #19, as one command (the device machine has torch but not hydra-core, omegaconf,
# antlr4 or the offline backbone's package, and cannot download). Two steps:
#   bash benchmarks/gpu_session.sh prepare   # here, online: .gpu/ (git-ignored) with the wheels, the offline
#                                            # backbone cut to relu4_1 (12 MB) and four 512² tuning photos
#   bash benchmarks/gpu_session.sh           # there, with .gpu carried: writes under $OUT
# It runs the CUDA tests, the GPU rows of docs/benchmarks.md (the default and the paper's schedule, 512² / 256² and
# 2048² / 1024², float32 and bfloat16; the default without CUDA graphs too) and inpaint.py on the photos with and
# without graphs (fills.tar: judge them on any machine).
set -uo pipefail
if [ "${1:-}" = prepare ]; then
  set -e
  mkdir -p .gpu/whl .gpu/site/easyocr_en_models/models .gpu/photos .gpu/photos_mask
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  pip download -q --no-deps -d .gpu/whl hydra-core==1.3.* omegaconf==2.3.*
  pip wheel -q --no-deps -w .gpu/whl antlr4-python3-runtime==4.9.3
  python - <<'EOF'
import shutil
from pathlib import Path

import easyocr_en_models, numpy as np, torch
from PIL import Image

package = Path(easyocr_en_models.__file__).parent
shutil.copy(package / "__init__.py", ".gpu/site/easyocr_en_models/")
state = torch.load(package / "models" / "craft_mlt_25k.pth", map_location="cpu", weights_only=True)
prefix = "module.basenet.slice"  # slices 1-4 keep vgg16_bn.features' indices; up to relu4_1 (26) is what it loads
state = {k: v for k, v in state.items()
         if k.startswith(prefix) and k[len(prefix)] in "1234" and int(k[len(prefix):].split(".")[1]) <= 26}
torch.save(state, ".gpu/site/easyocr_en_models/models/craft_mlt_25k.pth")
for name in ("Bridge_by_Sander_Klootwijk", "Kleiber_by_Lukas_Baubkus", "Wine_by_Jakkub_Mede", "sunset_by_Aitzol_Berasategi"):
    photo = Image.open(f"src/neuralpatch/assets/photos/{name}.jpg").convert("RGB")
    side = min(photo.size)
    left, top = (photo.width - side) // 2, (photo.height - side) // 2
    photo.crop((left, top, left + side, top + side)).resize((512, 512), Image.LANCZOS).save(
        f".gpu/photos/{name.split('_by_')[0]}.png")
mask = np.zeros((512, 512), np.uint8)
mask[128:384, 128:384] = 255
Image.fromarray(mask).save(".gpu/photos_mask/mask.png")
EOF
  exit 0
fi

OUT=${OUT:-outputs/gpu_session}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=src:.gpu/site:/tmp/site PYTHONUNBUFFERED=1 WANDB_MODE=offline
log="$OUT/log.txt"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch; print('torch', torch.__version__)"; } 2>&1 | tee "$log"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/synthesis/test_graphs.py 2>&1 | tee -a "$log"
bench() { timeout "$1" python3 benchmarks/synthesis_speed.py --device cuda --texture vgg16_bn_craft "${@:2}" 2>&1 | tee -a "$log"; }
bench 150 --cases 512:256 2048:1024 --dtype float32 bfloat16
bench 90 --cases 512:256 2048:1024 --dtype float32 bfloat16 --set cuda_graphs=false --no-process
bench 120 --preset paper --cases 512:256 --dtype float32 bfloat16
for graphs in true false; do
  timeout 90 python3 inpaint.py +image=.gpu/photos +mask=.gpu/photos_mask/mask.png device=cuda texture.name=vgg16_bn_craft \
    synthesis.cuda_graphs=$graphs output="$OUT/fills_$graphs" 2>&1 | tail -2 | tee -a "$log"
done
tar -C "$OUT" -cf "$OUT/fills.tar" fills_true fills_false && rm -rf "$OUT"/fills_true "$OUT"/fills_false
bench 240 --preset paper --cases 2048:1024 --dtype bfloat16 float32
