import json
import subprocess
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from conftest import CONF, ROOT
from neuralpatch.files import InputError, atomic_write, mask_from_image, save_side_by_side
from neuralpatch.synthesis.inpaint_files import demo_inputs, inpaint_files

FAST = ["texture=random", "synthesis.iterations=3", "synthesis.line_search=null", "pyramid.levels=2", "device=cpu"]


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "photo.png")
    mask = np.zeros((45, 61), np.uint8)
    mask[15:30, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "photo.png", tmp_path / "mask.png"


def run(tmp_path, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("inpaint", [*FAST, *overrides])
    return inpaint_files(cfg, tmp_path / "run")


def test_result_is_bit_exact_outside_the_hole_with_grid_and_json(tmp_path, photo):
    image, mask = photo
    before = image.read_bytes()
    [result] = run(tmp_path, f"+image={image}", f"+mask={mask}", f"output={tmp_path / 'out'}")
    original, filled = np.asarray(Image.open(image)), np.asarray(Image.open(result))
    hole = np.asarray(Image.open(mask)) > 127
    assert filled.shape == original.shape
    assert np.array_equal(filled[~hole], original[~hole]) and not np.array_equal(filled[hole], original[hole])
    assert image.read_bytes() == before
    grid = np.asarray(Image.open(result.with_name("photo_inpainted_grid.png")))
    assert grid.shape == (45, 3 * 61, 3)
    assert (grid[:, :61][hole] == 255).all() and np.array_equal(grid[:, :61][~hole], original[~hole])  # white hole
    assert np.array_equal(grid[:, 122:], filled)
    record = json.loads(result.with_suffix(".json").read_text())
    assert record["texture_backbone"].startswith("vgg19 (random") and len(record["levels"]) == 2
    assert record["config"]["synthesis"]["alpha"] == 5.0 and record["levels"][1]["seconds"] > 0
    assert record["windows"] == [[0, 45, 0, 61]]


def test_a_large_grid_is_downscaled_panel_by_panel_to_the_longest_side(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    panels = [np.broadcast_to(np.array(colour, np.uint8), (200, 300, 3)) for colour in colours]
    save_side_by_side(panels, tmp_path / "grid.png", 300)
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    assert grid.shape == (67, 300, 3)
    for number, colour in enumerate(colours):  # each panel keeps its own colour up to its edge: no bleeding
        assert (grid[:, 100 * number : 100 * (number + 1)] == colour).all()


def test_modes_and_sizes_are_converted_with_a_warning(tmp_path, photo, caplog):
    image, mask = photo
    rgba = tmp_path / "rgba.png"
    Image.open(image).convert("RGBA").save(rgba)
    grey16 = tmp_path / "grey16.png"
    Image.fromarray((np.asarray(Image.open(image).convert("L")).astype(np.uint16) * 257)).save(grey16)
    big_mask = tmp_path / "big_mask.png"
    Image.open(mask).resize((122, 90), Image.NEAREST).save(big_mask)
    for source in (rgba, grey16):
        [result] = run(tmp_path, f"+image={source}", f"+mask={big_mask}", f"output={tmp_path}/out_{source.stem}.png")
        filled = np.asarray(Image.open(result))
        assert filled.shape == (45, 61, 3)
    expected_grey = np.asarray(Image.open(image).convert("L"))
    hole = np.asarray(Image.open(mask)) > 127
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out_grey16.png"))[..., 0][~hole], expected_grey[~hole])
    rgba_result = np.asarray(Image.open(tmp_path / "out_rgba.png"))
    assert np.array_equal(rgba_result[~hole], np.asarray(Image.open(image))[~hole])
    assert "resized with nearest neighbour" in caplog.text


def test_folders_pair_masks_by_stem(tmp_path, photo):
    image, mask = photo
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b"):
        Image.open(image).save(tmp_path / "images" / f"{stem}.png")
        Image.open(mask).save(tmp_path / "masks" / f"{stem}_mask.png")
    results = run(tmp_path, f"+image={tmp_path / 'images'}", f"+mask={tmp_path / 'masks'}", f"output={tmp_path / 'out'}")
    assert [r.name for r in results] == ["a_inpainted.png", "b_inpainted.png"]
    (tmp_path / "masks" / "b_mask.png").unlink()
    with pytest.raises(InputError, match="no mask for b.png"):
        run(tmp_path, f"+image={tmp_path / 'images'}", f"+mask={tmp_path / 'masks'}")


def test_atomic_write_never_exposes_a_partial_file(tmp_path):
    target = tmp_path / "result.png"
    target.write_text("old")

    def failing(temporary):
        temporary.write_text("half")
        assert target.read_text() == "old"  # the target is untouched while the new file is written
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, failing)
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
    atomic_write(target, lambda temporary: temporary.write_text("new"))
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("case, message", [
    ("full", "covers the whole image"), ("empty", "has no hole"), ("missing", "does not exist"),
    ("garbage", "cannot read image"),
    ("same", "is one of the inputs"), ("jpeg", "must be a .png"), ("no_mask", "without \\+mask"),
])
def test_bad_input_is_a_clear_error_and_loses_nothing(tmp_path, photo, case, message):
    image, mask = photo
    full = tmp_path / "full.png"
    Image.fromarray(np.full((45, 61), 255, np.uint8)).save(full)
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((45, 61), np.uint8)).save(empty)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG but not really")
    before = image.read_bytes()
    overrides = {
        "full": [f"+image={image}", f"+mask={full}"],
        "empty": [f"+image={image}", f"+mask={empty}"],
        "missing": [f"+image={tmp_path / 'nope.jpg'}", f"+mask={mask}"],
        "garbage": [f"+image={garbage}", f"+mask={mask}"],
        "same": [f"+image={image}", f"+mask={mask}", f"output={image}"],
        "jpeg": [f"+image={image}", f"+mask={mask}", f"output={tmp_path / 'out.jpg'}"],
        "no_mask": [f"+image={image}"],
    }[case]
    with pytest.raises(InputError, match=message):
        run(tmp_path, *overrides)
    assert image.read_bytes() == before


def inpaint_cli(tmp_path, *args):
    return subprocess.run([sys.executable, str(ROOT / "inpaint.py"), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)


def test_cli_end_to_end_and_one_line_errors(tmp_path, photo):
    image, mask = photo
    done = inpaint_cli(tmp_path, f"+image={image}", f"+mask={mask}", *FAST, f"hydra.run.dir={tmp_path}/run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "inpainted:" in done.stdout and (tmp_path / "run" / "photo_inpainted.png").is_file()
    failed = inpaint_cli(tmp_path, f"+image={tmp_path / 'nope.jpg'}", f"+mask={mask}", *FAST, f"hydra.run.dir={tmp_path}/r2")
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("inpaint.py: error: image") and "Traceback" not in failed.stderr


def test_bare_run_inpaints_the_shipped_demo(tmp_path):
    done = inpaint_cli(tmp_path, *FAST, "pyramid.levels=1", f"hydra.run.dir={tmp_path}/run")
    assert done.returncode == 0, done.stderr[-2000:]
    result = np.asarray(Image.open(tmp_path / "run" / "seeding_inpainted.png"))
    photo = np.asarray(Image.open(demo_inputs()[0]))
    hole = mask_from_image(Image.open(demo_inputs()[1]))
    assert result.shape == photo.shape == (288, 512, 3) and np.array_equal(result[~hole], photo[~hole])
    assert np.abs(result[hole].astype(int) - photo[hole]).mean() > 5  # the dandelion is gone from the hole
    assert Image.open(tmp_path / "run" / "seeding_inpainted_grid.png").size == (3 * 512, 288)


def test_multirun_ablation_gives_one_folder_per_job(tmp_path, photo):
    image, mask = photo
    done = inpaint_cli(tmp_path, "-m", f"+image={image}", f"+mask={mask}", *FAST, "synthesis.alpha=0,5e-6",
                       "pyramid.levels=1,2", f"hydra.sweep.dir={tmp_path}/sweep")
    assert done.returncode == 0, done.stderr[-2000:]
    results = sorted((tmp_path / "sweep").glob("*/photo_inpainted.png"))
    assert len(results) == 4
    levels = sorted(len(json.loads(r.with_suffix(".json").read_text())["levels"]) for r in results)
    assert levels == [1, 1, 2, 2]
