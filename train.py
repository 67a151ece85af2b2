"""Train the content network: python train.py [model=content] [trainer.devices=4] [key=value ...]"""

import sys

import hydra
from omegaconf import DictConfig

from neuralpatch.runs import check_command_line, register_resolvers, script
from neuralpatch.training.run import train

register_resolvers()  # ${run_folder:...} in the configs' hydra sections


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> dict[str, float]:
    return script("train.py", lambda: train(cfg))


if __name__ == "__main__":
    check_command_line("train.py", sys.argv[1:])
    main()
