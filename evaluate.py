"""Compare inpainting methods on a fixed evaluation set: python evaluate.py [method=[nps,telea]] [key=value ...]"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from neuralpatch.evaluation.run import evaluate
from neuralpatch.runs import check_command_line, register_resolvers, script

register_resolvers()  # ${run_folder:...} in the configs' hydra sections


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    script("evaluate.py", lambda: evaluate(cfg, Path(HydraConfig.get().runtime.output_dir)))


if __name__ == "__main__":
    check_command_line("evaluate.py", sys.argv[1:])
    main()
