"""Side-by-side fills of the offline texture backbones on shipped photos (512² crops, centre 256² hole, downscaled
to --size). Writes docs/images/backbones.png (rows: photos; columns: input | each backbone | ground truth) and
prints hole PSNR/SSIM per backbone.

    python benchmarks/compare_backbones.py [--size 256] [--levels 3] [--iterations 100]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from neuralpatch.metrics.hole import hole_metrics
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import build_texture_network
from neuralpatch.training.data import read_image, samples_dir
from neuralpatch.training.masks import CenterMask

PHOTOS = ["Bridge_by_Sander_Klootwijk.jpg", "greentock_by_Peter_Nerlich.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg"]
BACKBONES = {"vgg16_bn_craft": ["relu3_1", "relu4_1"], "efficientnet_lite0": ["stage2", "stage3"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--out", default="docs/images/backbones.png")
    args = parser.parse_args()
    networks = {name: build_texture_network(name, layers) for name, layers in BACKBONES.items()}
    hole = CenterMask(0.5)(args.size, args.size)[None]  # [1,1,S,S]
    rows = []
    for photo in PHOTOS:
        image = read_image(samples_dir() / photo)[None]
        side = min(image.shape[-2:])
        top, left = (image.shape[-2] - side) // 2, (image.shape[-1] - side) // 2
        image = F.interpolate(image[..., top : top + side, left : left + side], (args.size, args.size), mode="area")
        row = [image * (1 - hole)]
        for name, network in networks.items():
            start = time.perf_counter()
            result, _ = Synthesizer(network, levels=args.levels, iterations=args.iterations)(image, hole)
            scores = hole_metrics(result, image, hole)
            print(f"{photo:42s} {name:20s} psnr {scores['psnr']:6.2f} dB  ssim {scores['ssim']:.3f}  "
                  f"{time.perf_counter() - start:5.1f} s", flush=True)
            row.append(result)
        rows += row + [image]
    save_image(torch.cat(rows), args.out, nrow=len(networks) + 2, padding=4, pad_value=1.0)
    print(f"grid: {args.out} (columns: input | {' | '.join(networks)} | ground truth)")


if __name__ == "__main__":
    main()
