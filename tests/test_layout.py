"""The package's dependency direction: synthesis ← metrics ← training ← evaluation, shared modules at the top."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "src" / "neuralpatch"
# What each part of the package may import from neuralpatch (besides itself). Top-level modules are shared.
SHARED = {"files", "runs"}
ALLOWED = {
    "files": set(),
    "runs": {"files"},
    "synthesis": SHARED,
    "api": SHARED | {"synthesis"},
    "__init__": {"api"},
    "metrics": SHARED | {"synthesis"},
    "training": SHARED | {"synthesis", "metrics"},
    "evaluation": SHARED | {"synthesis", "metrics", "training"},
    "serve": SHARED | {"synthesis"},
}


def part_of(module: str) -> str:
    """``neuralpatch.synthesis.holes`` → ``synthesis``; ``neuralpatch`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every neuralpatch import in ``source``, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".")[: -node.level]
                base = ".".join(package + ([base] if base else []))
            # `from neuralpatch import x` imports neuralpatch.x (a module) or a name of neuralpatch/__init__.py
            targets = [f"{base}.{alias.name}" for alias in node.names] if base == "neuralpatch" else [base]
            found += [(node.lineno, target) for target in targets]
    return [(line, name) for line, name in found if name == "neuralpatch" or name.startswith("neuralpatch.")]


def violations(path: Path, source: str) -> list[str]:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    part = part_of(module)
    allowed = ALLOWED[part] | {part}
    return [f"{path.relative_to(ROOT)}:{line}: {part} imports {name}" for line, name in imported_modules(source, module)
            if part_of(name) not in allowed]


def test_every_module_belongs_to_a_known_part():
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        assert part_of(module) in ALLOWED, f"{path}: add its part to ALLOWED in tests/test_layout.py"


def test_no_module_imports_against_the_dependency_direction():
    found = [v for path in sorted(PACKAGE.rglob("*.py")) for v in violations(path, path.read_text())]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source, part", [
    ("from neuralpatch.training.networks import ContentGenerator", "synthesis"),
    ("def f():\n    import neuralpatch.evaluation.methods", "synthesis"),
    ("from neuralpatch import metrics", "synthesis"),
    ("from ..evaluation import evaluate", "training"),
    ("from neuralpatch.evaluation import evaluate", "metrics"),
])
def test_the_check_catches_imports_against_the_direction(source, part):
    path = PACKAGE / part / "example.py"
    assert violations(path, source), source


def test_the_check_allows_the_direction():
    assert not violations(PACKAGE / "evaluation" / "example.py", "from neuralpatch.training import train")
    assert not violations(PACKAGE / "training" / "example.py", "from .callbacks import LatestCheckpoint")


def test_import_and_inpaint_load_only_what_inpainting_needs():
    """torch._dynamo (1.2–1.7 s) is what torch.optim's first L-BFGS would import (schedule.skip_dynamo_import)."""
    code = """
import sys
import numpy as np
import neuralpatch
from neuralpatch.synthesis import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19
photo = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
hole = np.zeros((32, 32), np.uint8)
hole[10:20, 10:20] = 1
fast = Synthesizer(random_vgg19(["relu3_1"]), levels=1, iterations=2, line_search=None)
result = neuralpatch.inpaint(photo, hole, synthesizer=fast, device="cpu")
assert result.shape == photo.shape
print(sorted(m for m in ("lightning", "pytorch_lightning", "wandb", "torchmetrics", "hydra", "torchvision",
                         "torch._dynamo") if m in sys.modules))
"""
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]", output


def test_every_target_in_conf_resolves():
    from hydra.utils import get_object

    targets = {line.split("_target_:")[1].split(",")[0].strip(" {}") for path in (ROOT / "conf").rglob("*.yaml")
               for line in path.read_text().splitlines() if "_target_:" in line}
    assert len(targets) > 10
    for target in sorted(targets):
        assert get_object(target) is not None, target
