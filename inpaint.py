"""Inpaint photos: python inpaint.py +image=photo.jpg +mask=mask.png [output=PATH] [key=value ...]"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from neuralpatch.files import InpaintError
from neuralpatch.inpaint_files import inpaint_files


@hydra.main(version_base="1.3", config_path="conf", config_name="inpaint")
def main(cfg: DictConfig) -> None:
    try:
        results = inpaint_files(cfg, Path(HydraConfig.get().runtime.output_dir))
    except InpaintError as error:
        sys.exit(f"inpaint.py: error: {error}")
    for result in results:
        print(f"inpainted: {result}")


if __name__ == "__main__":
    main()
