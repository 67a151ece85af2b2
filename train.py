"""Train the content network: python train.py [model=content] [trainer.devices=4] [key=value ...]"""

import hydra
from omegaconf import DictConfig

from neuralpatch.train import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> dict[str, float]:
    return train(cfg)


if __name__ == "__main__":
    main()
