"""Issue #10: every bad input and fault a user meets, one test per row — a one-line error naming the file or
value, raised before the long work, or a documented conversion; nothing lost."""

import os
import signal
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from conftest import CONF, ROOT, TINY
from neuralpatch.evaluation.run import evaluate
from neuralpatch.files import InputError, read_mask, read_photo
from neuralpatch.runs import run_folder
from neuralpatch.synthesis.inpaint_files import inpaint_files
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.training.loggers import wandb_logger
from neuralpatch.training.run import train

FAST = ["texture=random", "synthesis.iterations=2", "synthesis.line_search=null", "pyramid.levels=2", "device=cpu"]


def compose_inpaint(*overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("inpaint", [*FAST, *overrides])


def save_photo(path, size=(61, 45), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def save_mask(path, size=(61, 45)):
    """The middle third of each side is the hole."""
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[size[1] // 3 : 2 * size[1] // 3, size[0] // 3 : 2 * size[0] // 3] = 255
    Image.fromarray(mask).save(path)
    return path


# Row 1: run folders are unique, even for runs started in the same second.
def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the configs' run folders are relative to the working directory
    folders = {run_folder(str(tmp_path / "outputs")) for _ in range(3)}
    assert len(folders) == 3 and all(os.path.isdir(f) for f in folders)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        dirs = [compose(name, return_hydra_config=True).hydra.run.dir for name in ("inpaint", "inpaint", "train")]
    assert len(set(dirs)) == 3


# Row 2: a training folder smaller than one batch is an error, not a run that trains nothing.
def test_a_training_set_smaller_than_a_batch_is_refused(compose_config):
    with pytest.raises(InputError, match="fewer than data.batch_size=64"):
        train(compose_config(overrides=[*TINY, "logger=none", "data.batch_size=64", "data.train_repeats=1"]))


# Row 3: EXIF orientation is applied: a phone photo is read, filled and saved upright.
def test_exif_rotated_photos_are_filled_upright(tmp_path):
    upright = np.asarray(Image.open(save_photo(tmp_path / "upright.png", (40, 64))))  # [64,40,3]
    sideways = Image.fromarray(np.rot90(upright, k=1).copy())  # stored 64 wide, shown 40 wide after rotation
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    sideways.save(tmp_path / "phone.png", exif=exif)
    assert np.array_equal(read_photo(tmp_path / "phone.png"), upright)
    mask = save_mask(tmp_path / "mask.png", (40, 64))
    [result] = inpaint_files(compose_inpaint(f"+image={tmp_path / 'phone.png'}", f"+mask={mask}",
                                             f"output={tmp_path / 'out.png'}"), tmp_path / "run")
    filled, hole = np.asarray(Image.open(result)), np.asarray(Image.open(mask)) > 127
    assert filled.shape == upright.shape and np.array_equal(filled[~hole], upright[~hole])


# Row 4: evaluation refuses holes that are empty or everything instead of reporting inf / nan.
@pytest.mark.parametrize("hole, message", [("full", "covers the whole image"), ("empty", "has no hole")])
def test_evaluation_refuses_empty_and_full_masks(tmp_path, hole, message):
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    save_photo(pairs / "a.png")
    Image.fromarray(np.full((45, 61), 255 if hole == "full" else 0, np.uint8)).save(pairs / "a_mask.png")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", [*FAST, "wandb=false", "method=[telea]", f"eval.pairs={pairs}"])
    with pytest.raises(InputError, match=f"a_mask.png {message}"):
        evaluate(cfg, tmp_path / "out")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", [*FAST, "wandb=false", "method=[telea]", "masks.size=1.0", "eval.image_size=32"])
    with pytest.raises(InputError, match="hole of 100 %"):
        evaluate(cfg, tmp_path / "generated")


# Row 5: the hole is wherever a user painted: white or coloured strokes on black, or opaque strokes on a
# transparent layer; a mask with no hole at all is an error.
@pytest.mark.parametrize("kind", ["white", "red", "blue_rgba_opaque", "alpha_strokes", "palette", "none"])
def test_masks_drawn_as_users_draw_them(tmp_path, kind):
    painted = np.zeros((45, 61), bool)
    painted[15:30, 20:40] = True
    if kind == "white":
        image = Image.fromarray(painted.astype(np.uint8) * 255)
    elif kind == "red":
        image = Image.fromarray(np.stack([painted * 255, painted * 0, painted * 0], -1).astype(np.uint8))
    elif kind == "blue_rgba_opaque":  # a colour stroke on black, saved with an all-opaque alpha channel
        image = Image.fromarray(np.stack([painted * 0, painted * 0, painted * 200, np.full(painted.shape, 255)], -1)
                                .astype(np.uint8), "RGBA")
    elif kind == "alpha_strokes":  # black strokes on a transparent layer: only the alpha says where
        image = Image.fromarray(np.stack([np.zeros_like(painted)] * 3 + [painted], -1).astype(np.uint8) * 255, "RGBA")
    elif kind == "palette":
        image = Image.fromarray(painted.astype(np.uint8) * 255).convert("P")
    else:
        image = Image.fromarray(np.zeros((45, 61), np.uint8))
    image.save(tmp_path / "mask.png")
    if kind == "none":
        with pytest.raises(InputError, match="mask .*mask.png has no hole"):
            read_mask(tmp_path / "mask.png", (61, 45))
    else:
        assert np.array_equal(read_mask(tmp_path / "mask.png", (61, 45)), painted)


# Row 6: nonsense settings are refused at start-up, naming the key, by every script.
@pytest.mark.parametrize("setting", ["synthesis.iterations=-1", "synthesis.alpha=-1", "pyramid.levels=0",
                                     "pyramid.max_pixels=0", "synthesis.optimizer=sgd", "synthesis.alpha=abc",
                                     "synthesis.cuda_graphs=sometimes"])
def test_nonsense_settings_are_refused_by_every_script(tmp_path, compose_config, setting):
    key = setting.split("=")[0]
    with pytest.raises(InputError, match=f"{key} must be"):
        inpaint_files(compose_inpaint(setting), tmp_path / "run")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", [*FAST, "wandb=false", "method=[telea]", setting])
    with pytest.raises(InputError, match=f"{key} must be"):
        evaluate(cfg, tmp_path / "eval")
    with_callback = [o for o in TINY if o != "~callbacks.synthesis"]
    with pytest.raises(InputError, match=f"{key} must be"):
        train(compose_config(overrides=[*with_callback, "logger=none", "texture=random", setting]))
    assert not (tmp_path / "checkpoints").exists()


# Row 7: tiny photos are filled with fewer pyramid levels, or refused when smaller than the network allows.
def test_tiny_photos_are_filled_or_refused_in_one_line(tmp_path):
    mask = save_mask(tmp_path / "mask.png", (20, 18))
    photo = save_photo(tmp_path / "small.png", (20, 18))
    [result] = inpaint_files(compose_inpaint(f"+image={photo}", f"+mask={mask}", "pyramid.levels=3"), tmp_path / "a")
    assert Image.open(result).size == (20, 18)
    tiny = save_photo(tmp_path / "tiny.png", (12, 10))
    with pytest.raises(InputError, match="tiny.png is 12×10 px; the synthesis needs at least 16 px"):
        inpaint_files(compose_inpaint(f"+image={tiny}", f"+mask={mask}"), tmp_path / "b")


# Row 8: a bad ckpt_path is one line naming it, never a traceback that advises weights_only=False.
@pytest.mark.parametrize("kind", ["missing", "text", "tensor", "pickled_object"])
def test_bad_checkpoints_are_one_line_errors(tmp_path, compose_config, kind):
    path = tmp_path / f"{kind}.ckpt"
    if kind == "text":
        path.write_text("not a checkpoint")
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    elif kind == "pickled_object":
        torch.save({"state_dict": {}, "hyper_parameters": {"generator": Fraction(1, 3)}}, path)
    with pytest.raises(InputError, match=f"ckpt_path .*{kind}.ckpt") as error:
        train(compose_config(overrides=[*TINY, "logger=none", f"ckpt_path={path}"]))
    assert "weights_only" not in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(InputError, match=f"prior.generator .*{kind}.ckpt"):
        inpaint_files(compose_inpaint("prior=content", f"prior.generator={path}"), tmp_path / "run")


# Row 9: an empty or missing data.root is one line, from train.py and evaluate.py alike.
@pytest.mark.parametrize("script", ["train.py", "evaluate.py"])
def test_empty_data_root_is_a_one_line_error(tmp_path, script):
    (tmp_path / "empty").mkdir()
    args = [*TINY, "logger=none"] if script == "train.py" else [*FAST, "wandb=false", "method=[telea]"]
    done = subprocess.run([sys.executable, str(ROOT / script), *args, "data=folder", f"data.root={tmp_path / 'empty'}",
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith(f"{script}: error: no readable jpg/png/webp images under")


# Row 10: an output folder that cannot be written is an error before any synthesis.
def test_unwritable_output_fails_before_the_synthesis(tmp_path, monkeypatch):
    photo, mask = save_photo(tmp_path / "photo.png"), save_mask(tmp_path / "mask.png")
    (tmp_path / "file").write_text("a file where a folder should be")
    monkeypatch.setattr(Synthesizer, "forward", lambda *args, **kwargs: pytest.fail("synthesis ran"))
    with pytest.raises(InputError, match="cannot write to output folder .*file"):
        inpaint_files(compose_inpaint(f"+image={photo}", f"+mask={mask}", f"output={tmp_path / 'file' / 'out'}"),
                      tmp_path / "run")


# Row 11 (and the acceptance run): a folder goes on past bad files, names them and exits non-zero.
def test_a_folder_of_mixed_files_fills_every_good_one_and_names_every_bad_one(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = np.asarray(Image.open(save_photo(tmp_path / "source.png", (48, 48))))
    Image.fromarray(rgb).save(photos / "rgb.png")
    Image.fromarray(rgb).convert("L").save(photos / "grey.jpg")
    Image.fromarray(rgb).convert("RGBA").save(photos / "rgba.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(photos / "grey16.png")
    Image.fromarray(rgb).convert("CMYK").save(photos / "cmyk.jpg")
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(rgb).save(photos / "rotated.jpg", exif=exif)
    Image.fromarray(rgb).save(tmp_path / "whole.jpg")
    (photos / "truncated.jpg").write_bytes((tmp_path / "whole.jpg").read_bytes()[:400])
    (photos / "text.png").write_text("this is not an image")
    mask = save_mask(tmp_path / "mask.png", (48, 48))
    done = subprocess.run([sys.executable, str(ROOT / "inpaint.py"), f"+image={photos}", f"+mask={mask}", *FAST,
                           f"output={tmp_path / 'out'}", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("inpaint.py: error: 2 of 8 images could not be inpainted (text.png, truncated.jpg;"), last
    good = ["cmyk", "grey", "grey16", "rgb", "rgba", "rotated"]
    assert sorted(p.stem.removesuffix("_inpainted") for p in (tmp_path / "out").glob("*_inpainted.png")) == good
    assert done.stdout.count("skipped") == 2 and "cannot read image" in done.stdout and "Traceback" not in done.stderr


# Row 12: outputs get the usual permissions; an interrupted write (SIGTERM) leaves no temporary file.
def test_outputs_are_readable_by_others_and_sigterm_leaves_no_temporary_file(tmp_path):
    photo, mask = save_photo(tmp_path / "photo.png"), save_mask(tmp_path / "mask.png")
    [result] = inpaint_files(compose_inpaint(f"+image={photo}", f"+mask={mask}", f"output={tmp_path / 'out'}"),
                             tmp_path / "run")
    umask = os.umask(0o022)
    os.umask(umask)
    for path in (result, result.with_suffix(".json"), result.with_name("photo_inpainted_grid.png")):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    interrupted = tmp_path / "interrupted"
    code = (f"import os, signal, time; from pathlib import Path; from neuralpatch.files import atomic_write; "
            f"from neuralpatch.runs import script; "
            f"script('x', lambda: atomic_write(Path({str(interrupted / 'result.png')!r}), lambda t: "
            f"(t.write_text('half'), os.kill(os.getpid(), signal.SIGTERM), time.sleep(30))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr[-2000:]
    assert list(interrupted.iterdir()) == []


# Row 13: resuming from last.ckpt continues the run's own folder, its best-checkpoint tracking and W&B run.
def test_a_resumed_run_continues_its_own_folder(tmp_path):
    def run_train(*overrides):
        done = subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, "logger=csv", *overrides], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "run"
    run_train("trainer.max_steps=4", f"hydra.run.dir={run}")
    run_train("trainer.max_steps=8", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}")
    assert not (tmp_path / "outputs").exists()  # no second run folder
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert state["global_step"] == 8
    [checkpoint_state] = [v for k, v in state["callbacks"].items() if "'monitor': 'val/psnr'" in k]
    best = sorted((run / "checkpoints").glob("best-*.ckpt"))
    assert len(best) == 1 and checkpoint_state["best_model_path"] == str(best[0])  # one best, tracked across runs
    assert (run / ".hydra" / "config.yaml").is_file() and list((run / ".hydra").glob("resumed_*/config.yaml"))
    assert len(list(run.glob("csv/version_*"))) == 2
    first = wandb_logger(str(run), offline=True).version
    assert wandb_logger(str(run), offline=True).version == first  # a resumed run's W&B logger: the same run
    assert wandb_logger(str(tmp_path / "other"), offline=True).version != first


# Row 14: eval.pairs names every image without its mask and every mask without its image.
def test_unpaired_evaluation_files_are_named(tmp_path):
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for stem in ("a", "b"):
        save_photo(pairs / f"{stem}.png")
    save_mask(pairs / "a_mask.png")
    save_mask(pairs / "c_mask.png")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", [*FAST, "wandb=false", "method=[telea]", f"eval.pairs={pairs}"])
    with pytest.raises(InputError, match="unpaired files b.png, c_mask.png"):
        evaluate(cfg, tmp_path / "out")
