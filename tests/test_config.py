"""Every option of every config group composes and instantiates."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from conftest import CONF, TINY
from neuralpatch.synthesis.synthesizer import build_synthesizer
from neuralpatch.synthesis.texture import build_texture_network
from neuralpatch.training.data import InpaintingDataModule, samples_dir
from neuralpatch.training.masks import CenterMask, MixedMask
from neuralpatch.training.module import ContentModule
from neuralpatch.training.run import is_distributed, strategy


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_has_its_options():
    assert options("data") == ["folder", "paris_streetview", "places2", "samples"]
    assert options("masks") == ["box", "center", "irregular", "mixed"]
    assert options("logger") == ["csv", "none", "wandb"]
    assert "content" in options("model")


@pytest.mark.parametrize("option", options("data"))
def test_data_options(compose_config, option):
    root = str(samples_dir())
    cfg = compose_config(overrides=[f"data={option}", f"data.root={root}", f"data.val_root={root}"])
    datamodule = instantiate(cfg.data, masks=instantiate(cfg.masks))
    assert isinstance(datamodule, InpaintingDataModule)
    datamodule.setup()
    assert len(datamodule.train_set) > 0 and len(datamodule.val_set) > 0


@pytest.mark.parametrize("option", options("masks"))
def test_mask_options(compose_config, option):
    masks = instantiate(compose_config(overrides=[f"masks={option}"]).masks)
    mask = masks(64, 48)
    assert mask.shape == (1, 64, 48) and 0 < mask.mean() < 1


def test_mixed_masks_instantiate_each_generator(compose_config):
    masks = instantiate(compose_config().masks)
    assert isinstance(masks, MixedMask) and isinstance(masks.generators["center"], CenterMask)
    assert set(masks.names) == {"center", "box", "thin", "medium", "thick"}


@pytest.mark.parametrize("option", options("model"))
def test_model_options(compose_config, option):
    model = instantiate(compose_config(overrides=[f"model={option}", *TINY]).model)
    assert isinstance(model, ContentModule) and not model.automatic_optimization


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(compose_config, option):
    cfg = compose_config(overrides=[f"trainer={option}"])
    if option == "gpu":  # asks for a GPU: check what it asks for, then build the rest of it on the CPU
        assert (cfg.trainer.accelerator, cfg.trainer.precision) == ("gpu", "bf16-mixed")
        cfg.trainer.accelerator, cfg.trainer.precision = "cpu", "32-true"
    trainer = instantiate(cfg.trainer, strategy=strategy(cfg), logger=False)
    expected = "CUDAAccelerator" if option == "default" and torch.cuda.is_available() else "CPUAccelerator"
    assert type(trainer.accelerator).__name__ == expected and trainer.precision == "32-true"
    assert trainer.val_check_interval == 500 and trainer.max_steps == 100_000 and trainer.num_devices == 1


def test_gpu_trainer_defaults_to_bf16(compose_config):
    assert compose_config(overrides=["trainer=gpu"]).trainer.precision == "bf16-mixed"


@pytest.mark.parametrize("option", options("logger"))
def test_logger_options(compose_config, option):
    loggers = [instantiate(c) for c in compose_config(overrides=[f"logger={option}"]).get("logger", {}).values()]
    expected = {"wandb": [WandbLogger], "csv": [CSVLogger], "none": []}[option]
    assert [type(logger) for logger in loggers] == expected


@pytest.mark.parametrize("option", options("callbacks"))
def test_callback_options(compose_config, option):
    callbacks = [instantiate(c) for c in (compose_config(overrides=[f"callbacks={option}"]).get("callbacks") or {}).values()]
    expected = {"default": ["ModelCheckpoint", "LatestCheckpoint", "SynthesisCallback"], "none": []}[option]
    assert [type(c).__name__ for c in callbacks] == expected


@pytest.mark.parametrize(("config", "group"), [("train", "texture"), ("train", "synthesis"), ("train", "pyramid"),
                                               ("inpaint", "texture"), ("inpaint", "synthesis"), ("inpaint", "pyramid")])
def test_synthesis_groups_compose_and_build(compose_config, config, group):
    for option in options(group):
        cfg = compose_config(config, [f"{group}={option}"])
        if group == "texture":
            network = build_texture_network(**cfg.texture)
            assert set(network(torch.rand(1, 3, 32, 32))) == set(cfg.texture.layers)
        else:
            synthesizer = build_synthesizer({"name": "random", "layers": ["relu3_1"]}, cfg.synthesis, cfg.pyramid)
            assert (synthesizer.alpha, synthesizer.schedule.iterations, synthesizer.levels) == (
                cfg.synthesis.alpha, cfg.synthesis.iterations, cfg.pyramid.levels)
            assert synthesizer.texture_layers == ["relu3_1"]


def test_prior_options_compose_and_the_content_prior_needs_its_checkpoint(compose_config):
    assert options("prior") == ["content", "harmonic", "lines", "mean", "navier_stokes", "patchmatch", "softened_lines",
                                "softened_telea", "telea"]
    for option in ("harmonic", "lines", "mean", "navier_stokes", "patchmatch", "softened_lines", "softened_telea",
                   "telea"):
        assert callable(instantiate(compose_config("inpaint", [f"prior={option}"]).prior))
    with pytest.raises(Exception, match="needs a content network"):
        instantiate(compose_config("inpaint", ["prior=content"]).prior)
    with pytest.raises(Exception, match="does not exist"):
        instantiate(compose_config("inpaint", ["prior=content", "prior.generator=nope.ckpt"]).prior)


def test_slurm_launcher_composes(compose_config):
    cfg = compose_config(overrides=["hydra/launcher=slurm", "trainer.devices=8", "trainer.num_nodes=2"], hydra=True)
    launcher = cfg.hydra.launcher
    assert "submitit" in launcher._target_ and launcher.tasks_per_node == 8 and launcher.nodes == 2


@pytest.mark.parametrize(("devices", "nodes", "expected"), [
    (1, 1, False), (4, 1, True), (1, 2, True), (-1, 1, True), ("auto", 1, False), ("0,1", 1, True), ([0], 1, False),
    ([0, 1], 1, True), ("1", 1, False), ("4", 1, True),
])
def test_several_devices_select_ddp(devices, nodes, expected):
    assert is_distributed(devices, nodes) is expected


def test_contract_command_composes_ddp(compose_config):
    cfg = compose_config(overrides=["model=content", "trainer.devices=4"])
    assert strategy(cfg) == "ddp_find_unused_parameters_true"


def test_presets_set_the_papers_and_the_authors_settings(compose_config):
    paper = compose_config("inpaint", ["synthesis=paper"])
    assert (paper.synthesis.alpha, paper.synthesis.beta, paper.synthesis.normalize) == (5e-6, 5e-6, False)
    assert (paper.synthesis.iterations, paper.pyramid.levels, paper.prior._target_) == (100, 3, "neuralpatch.synthesis.priors.MeanPrior")
    authors = compose_config("inpaint", ["synthesis=authors"])
    assert list(authors.texture.layers) == ["relu4_1"] and authors.synthesis.content_layer == "relu4_2"
    assert (authors.synthesis.alpha, authors.synthesis.pixel_weight, authors.synthesis.beta) == (1e-4, 20.0, 1e-4)
    assert authors.synthesis.overlap_average and authors.synthesis.rematch_every == 0
    assert authors.synthesis.line_search is None and authors.synthesis.history_size == 25
    synthesizer = build_synthesizer({**authors.texture, "name": "random"}, authors.synthesis, authors.pyramid)
    assert synthesizer.texture_layers == ["relu4_1"] and set(synthesizer.texture.outputs) == {"relu4_1", "relu4_2"}
    assert compose_config("inpaint", ["synthesis=paper", "prior=telea"]).prior.algorithm == "telea"  # user wins


# synthesis=paper and synthesis=authors as they were before dense matching and voting (issue #18): frozen
PRESETS = {
    "paper": {'prior': {'_target_': 'neuralpatch.synthesis.priors.MeanPrior'}, 'pyramid': {'crop_to_hole': True, 'feather': 0, 'levels': 3, 'max_pixels': 16777216, 'window_context': None}, 'synthesis': {'alpha': 5e-06, 'beta': 5e-06, 'beta_chroma': None, 'candidate_stride': 2, 'chunk_size': 1024, 'content_layer': None, 'full_texture_width': None, 'history_size': 20, 'iterations': 100, 'line_search': 'strong_wolfe', 'lr': 1.0, 'match_dtype': 'auto', 'max_candidates': None, 'normalize': False, 'optimizer': 'lbfgs', 'overlap_average': False, 'pixel_blur': 0.0, 'pixel_weight': 1.0, 'precision': 'auto', 'rematch_every': 1}, 'texture': {'layers': ['relu3_1', 'relu4_1'], 'name': 'vgg19', 'offline_fallback': 'vgg16_bn_craft', 'weights_path': None}},
    "authors": {'prior': {'_target_': 'neuralpatch.synthesis.priors.OpenCVPrior', 'algorithm': 'telea', 'radius': 3}, 'pyramid': {'crop_to_hole': True, 'feather': 0, 'levels': 3, 'max_pixels': 16777216, 'window_context': None}, 'synthesis': {'alpha': 0.0001, 'beta': 0.0001, 'beta_chroma': None, 'candidate_stride': 2, 'chunk_size': 1024, 'content_layer': 'relu4_2', 'full_texture_width': None, 'history_size': 25, 'iterations': 100, 'line_search': None, 'lr': 1.0, 'match_dtype': 'auto', 'max_candidates': None, 'normalize': False, 'optimizer': 'lbfgs', 'overlap_average': True, 'pixel_blur': 0.0, 'pixel_weight': 20.0, 'precision': 'auto', 'rematch_every': 0}, 'texture': {'layers': ['relu4_1'], 'name': 'vgg19', 'offline_fallback': 'vgg16_bn_craft', 'weights_path': None}},
}
OFF = {"matcher": "exhaustive", "match_distance": "ncc", "chroma_scale": 1, "vote_from_level": None, "vote_layer": None,
       "vote_start": False, "vote_rounds": 3, "finest_iterations": None, "stop_window": None, "stop_tolerance": 0.005,
       "match_channels": None, "finest_layers": None, "finest_levels": 1, "detail_sigma": None,
       "detail_rounds": 1, "detail_penalty": None, "detail_gain": None,
       "detail_feather": 0, "detail_chroma": False, "detail_candidate_stride": None, "detail_locality": None,
       "detail_coarse_width": None}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_stay_as_they_were_whatever_the_default(compose_config, preset):
    cfg = compose_config("inpaint", [f"synthesis={preset}"])
    resolved = {k: OmegaConf.to_container(cfg[k]) for k in ("synthesis", "pyramid", "prior", "texture")}
    assert {k: resolved["synthesis"].pop(k, OFF[k]) for k in OFF} == OFF
    assert resolved["synthesis"].pop("cuda_graphs") is True  # how a GPU runs it, not what it computes (issue #19)
    assert resolved["pyramid"].pop("split_crop") is True  # how the network runs, not what it computes (issue #19)
    assert resolved["pyramid"].pop("edge_padding") == 0  # the photo as it is
    assert resolved == PRESETS[preset]
