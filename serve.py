"""A page to paint the hole and watch the fill: python serve.py [host=…] [port=8000] [key=value ...]"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from neuralpatch.runs import check_command_line, register_resolvers, script
from neuralpatch.serve.run import serve

register_resolvers()  # ${run_folder:...} in the configs' hydra sections


@hydra.main(version_base="1.3", config_path="conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    script("serve.py", lambda: serve(cfg, Path(__file__).parent / "conf"))


if __name__ == "__main__":
    check_command_line("serve.py", sys.argv[1:])
    main()
