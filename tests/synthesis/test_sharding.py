"""A folder over several processes (devices=N) and over jobs (shards/shard): every photo filled exactly once,
into one output folder (issue #19)."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT
from neuralpatch.files import InputError
from neuralpatch.synthesis.inpaint_files import inpaint_files
from test_reliability import FAST, compose_inpaint, save_mask, save_photo


@pytest.fixture
def folder(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(7):
        save_photo(photos / f"p{index}.png", seed=index)
        save_mask(photos / f"p{index}_mask.png")
    return photos


def filled(out) -> list[str]:
    return sorted(p.name for p in out.glob("*_inpainted.png"))


def test_two_cpu_processes_fill_every_photo_exactly_once(tmp_path, folder):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "inpaint.py"), f"+image={folder}", f"+mask={folder}", *FAST,
                           "devices=2", f"output={out}/"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert filled(out) == [f"p{i}_inpainted.png" for i in range(7)]
    assert sorted(line for line in done.stdout.splitlines() if line.startswith("inpainted: ")) == [
        f"inpainted: {out / f'p{i}_inpainted.png'}" for i in range(7)]  # each reported once
    processes = {line.split("[process ")[1][0] for line in done.stderr.splitlines() if "_inpainted.png (" in line}
    assert processes == {"0", "1"}  # both processes worked
    assert all(json.loads(p.read_text())["device"] == "cpu" for p in out.glob("*.json"))


def test_shards_partition_the_folder(tmp_path, folder):
    out, seen = tmp_path / "out", []
    for shard in range(3):
        results = inpaint_files(compose_inpaint(f"+image={folder}", f"+mask={folder}", f"output={out}/", "shards=3",
                                                f"shard={shard}"), tmp_path / "run")
        seen += [p.name for p in results]
    assert sorted(seen) == filled(out) == [f"p{i}_inpainted.png" for i in range(7)]  # disjoint and complete


@pytest.mark.parametrize("setting", [["shards=2", "shard=2"], ["shards=0"], ["devices=0"], ["devices=2", "device=cuda"]])
def test_bad_shards_and_devices_are_refused(tmp_path, folder, setting, monkeypatch):
    with pytest.raises(InputError, match=setting[-1].split("=")[0]):
        inpaint_files(compose_inpaint(f"+image={folder}", f"+mask={folder}", *setting), tmp_path / "run")
