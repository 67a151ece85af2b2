"""Compare inpainting methods on a fixed evaluation set: python evaluate.py [method=[nps,telea]] [key=value ...]"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from neuralpatch.evaluation import evaluate
from neuralpatch.files import InpaintError


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg, Path(HydraConfig.get().runtime.output_dir))
    except InpaintError as error:
        sys.exit(f"evaluate.py: error: {error}")


if __name__ == "__main__":
    main()
