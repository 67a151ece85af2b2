"""Inpaint photos: python inpaint.py +image=photo.jpg +mask=mask.png [output=PATH] [key=value ...]"""

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from neuralpatch.runs import check_command_line, register_resolvers, script
from neuralpatch.synthesis.inpaint_files import inpaint_files

register_resolvers()  # ${run_folder:...} in the configs' hydra sections


@hydra.main(version_base="1.3", config_path="conf", config_name="inpaint")
def main(cfg: DictConfig) -> None:
    for result in script("inpaint.py", lambda: inpaint_files(cfg, Path(HydraConfig.get().runtime.output_dir))):
        print(f"inpainted: {result}")


if __name__ == "__main__":
    check_command_line("inpaint.py", sys.argv[1:])
    main()
