"""Issue #20: the faults a new user hit in the second probe, one test per item; each fails on the code before
its fix."""

import logging
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from conftest import ROOT, TINY
from neuralpatch.files import InputError, atomic_write
from neuralpatch.runs import Interrupted
from neuralpatch.synthesis.inpaint_files import inpaint_files
from test_reliability import FAST, compose_inpaint, save_mask, save_photo


def run_script(script: str, *arguments: str, cwd, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / script), *arguments], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def photo_folder(folder, count: int, size: int = 48):
    folder.mkdir()
    for seed in range(count):
        save_photo(folder / f"photo{seed}.png", (size, size), seed)
    return folder


# 1. `python train.py ckpt_path=<run>/checkpoints/last.ckpt` (the README's line) continues the run on its own
#    data and model, in its own folder; a checkpoint that does not fit is one line, before anything is written.
@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A run on its own photo folder and tiny model, stopped at step 4, and its folder's listing."""
    root = tmp_path_factory.mktemp("resume")
    photos = photo_folder(root / "photos", 6)
    run = root / "run"
    done = run_script("train.py", *TINY, "logger=csv", "data=folder", f"data.root={photos}", "trainer.max_steps=4",
                      f"hydra.run.dir={run}", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, photos, run


def listing(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix != ".log"}


@pytest.mark.parametrize("override, message", [
    ("model.generator.bottleneck=64", "does not fit the configured model: generator.*bottleneck"),
    ("model=content_small", "model=content_small: a resumed run keeps the groups it was started with .model=content,"),
])
def test_a_checkpoint_that_does_not_fit_is_one_line_and_writes_nothing(interrupted_run, override, message):
    root, _, run = interrupted_run
    before = listing(run)
    done = run_script("train.py", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", override, cwd=root)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: ") and __import__("re").search(message, last), last
    assert listing(run) == before  # no .hydra/resumed_*, no W&B or CSV run, no checkpoint
    assert not (root / "outputs").exists()


def test_resuming_as_the_readme_shows_continues_on_the_runs_own_data_and_model(interrupted_run):
    root, photos, run = interrupted_run
    done = run_script("train.py", f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "trainer.max_steps=8", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 8
    assert not (root / "outputs").exists()  # in its own folder
    [record] = list((run / ".hydra").glob("resumed_*"))
    config = yaml.safe_load((record / "config.yaml").read_text())
    assert config["data"]["root"] == str(photos) and config["model"]["generator"]["bottleneck"] == 32
    assert config["trainer"]["max_steps"] == 8
    assert yaml.safe_load((record / "overrides.yaml").read_text()) == [
        f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "trainer.max_steps=8"]
    assert "with its own config; overrides: " in (run / "train.log").read_text()


# 2 and 4. One folder with photos, their masks, hidden files, a subfolder and a zero-byte PNG (the probe's).
@pytest.fixture
def probe_folder(tmp_path):
    folder = tmp_path / "probe"
    folder.mkdir()
    for stem in ("a", "b"):
        save_photo(folder / f"{stem}.png")
        save_mask(folder / f"{stem}_mask.png")
    save_photo(folder / ".c.png")  # a readable hidden image: not a photo of the folder either
    save_mask(folder / ".c_mask.png")
    (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS resource fork
    (folder / "sub").mkdir()
    save_photo(folder / "sub" / "d.png")
    return folder


def test_photos_with_their_masks_in_one_folder_hidden_files_and_a_subfolder(tmp_path, probe_folder, caplog):
    with caplog.at_level(logging.WARNING):
        results = inpaint_files(compose_inpaint(f"+image={probe_folder}", f"+mask={probe_folder}",
                                                f"output={tmp_path / 'out'}"), tmp_path / "run")
    assert sorted(p.name for p in results) == ["a_inpainted.png", "b_inpainted.png"]  # no a_mask_inpainted.png
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [
        "a_inpainted.png", "a_inpainted_grid.png", "b_inpainted.png", "b_inpainted_grid.png"]
    [warning] = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert "subfolders sub" in warning


def test_the_probe_folder_with_a_zero_byte_png_names_only_that_file(tmp_path, probe_folder):
    (probe_folder / "broken.png").write_bytes(b"")
    save_mask(probe_folder / "broken_mask.png")
    done = run_script("inpaint.py", f"+image={probe_folder}", f"+mask={probe_folder}", *FAST,
                      f"output={tmp_path / 'out'}/", cwd=tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("inpaint.py: error: 1 of 3 images could not be inpainted (broken.png;"), last
    assert sorted(p.name for p in (tmp_path / "out").glob("*_inpainted.png")) == ["a_inpainted.png", "b_inpainted.png"]


# 3. A device torch does not know, or does not have.
@pytest.mark.parametrize("device", ["tpu", "cuda:7", "gpu0"])
def test_an_unknown_device_is_one_line(tmp_path, device, monkeypatch):
    photo, mask = save_photo(tmp_path / "photo.png"), save_mask(tmp_path / "mask.png")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # cuda:7 is refused for its index, not the GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match=f"device={device}"):
        inpaint_files(compose_inpaint(f"+image={photo}", f"+mask={mask}", f"device={device}"), tmp_path / "run")


# 5. Ctrl-C during a folder: one line with what was finished and where.
def test_ctrl_c_is_one_line_saying_what_was_finished(tmp_path):
    photos, out = photo_folder(tmp_path / "photos", 4, 64), tmp_path / "out"
    mask = save_mask(tmp_path / "mask.png", (64, 64))
    process = subprocess.Popen([sys.executable, str(ROOT / "inpaint.py"), f"+image={photos}", f"+mask={mask}",
                                "texture=random", "synthesis.iterations=400", "synthesis.line_search=null",
                                "pyramid.levels=1", "device=cpu", f"output={out}/"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a shell
    deadline = time.monotonic() + 300
    while not (out / "photo0_inpainted.json").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, (signal.getsignal(signal.SIGINT), stdout[-2000:], stderr[-2000:])
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr[-3000:]
    finished = len(list(out.glob("*_inpainted.png")))
    assert stderr.strip() == (f"inpaint.py: interrupted; {finished} of 4 images finished, in {out}; nothing partial "
                              f"was written")
    assert finished >= 1 and not list(out.glob(".*.tmp"))


def test_ctrl_c_between_two_images_is_the_same_one_line(tmp_path, monkeypatch):
    from neuralpatch.synthesis import inpaint_files as module

    photos, mask = photo_folder(tmp_path / "photos", 2), save_mask(tmp_path / "mask.png", (48, 48))

    def interrupted(self):
        raise KeyboardInterrupt  # as if Ctrl-C came just after the first image was written

    monkeypatch.setattr(module.RunProgress, "image_done", interrupted)
    with pytest.raises(Interrupted, match=r"^1 of 2 images finished, in .*; nothing partial was written$"):
        inpaint_files(compose_inpaint(f"+image={photos}", f"+mask={mask}", *FAST, f"output={tmp_path}/out/"),
                      tmp_path / "run")


# 6. Paths with non-ASCII characters or spaces: unquoted, one line showing the quoting; quoted, they work.
def test_unquoted_paths_say_how_to_quote_them_and_quoted_ones_work(tmp_path):
    folder = tmp_path / "mes photos d'été"
    folder.mkdir()
    photo, mask = save_photo(folder / "forêt.png"), save_mask(folder / "forêt masque.png")
    done = run_script("inpaint.py", f"+image={photo}", f"+mask={mask}", *FAST, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-3000:]
    assert f"quote the value, quotes included: '+image=\"{photo}\"'" in done.stderr
    assert not (tmp_path / "outputs").exists()
    done = run_script("inpaint.py", f'+image="{photo}"', f'+mask="{mask}"', *FAST, f'output="{folder}/"',
                      cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (folder / "forêt_inpainted.png").is_file()
    readme = (ROOT / "README.md").read_text()
    assert "'+image=\"" in readme and "'+mask=\"" in readme


# 7. A run refused at start-up leaves no run folder; a folder's name may hold a dot.
def test_a_refused_run_leaves_no_run_folder(tmp_path):
    done = run_script("inpaint.py", f"+image={tmp_path / 'missing.png'}", f"+mask={tmp_path / 'missing.png'}",
                      cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and "does not exist" in done.stderr
    assert not (tmp_path / "outputs").exists()


def test_an_output_folder_may_have_a_dot_in_its_name(tmp_path):
    photo, mask = save_photo(tmp_path / "photo.png"), save_mask(tmp_path / "mask.png")
    for output in (f"{tmp_path / 'results.v2'}/", str(tmp_path / "existing.v3")):
        (tmp_path / "existing.v3").mkdir(exist_ok=True)
        [result] = inpaint_files(compose_inpaint(f"+image={photo}", f"+mask={mask}", f"output={output}"),
                                 tmp_path / "run")
        assert result == tmp_path / output.rstrip("/").rsplit("/", 1)[1] / "photo_inpainted.png"
    with pytest.raises(InputError, match=r"end it with / \(output=.*results.v4/\)"):
        inpaint_files(compose_inpaint(f"+image={photo}", f"+mask={mask}", f"output={tmp_path / 'results.v4'}"),
                      tmp_path / "run")


# 8. A write that fails halfway leaves the previous file intact (and no temporary file).
def test_a_write_failing_halfway_keeps_the_previous_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text('{"previous": true}')

    def half(temporary):
        with open(temporary, "w") as handle:
            handle.write('{"new": ')
            handle.flush()
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half)
    assert target.read_text() == '{"previous": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
