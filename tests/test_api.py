import inspect

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

import neuralpatch
from conftest import CONF
from neuralpatch.api import DEFAULT_TEXTURE, default_prior
from neuralpatch.files import InputError
from neuralpatch.synthesis.synthesizer import Synthesizer
from neuralpatch.synthesis.texture import random_vgg19


@pytest.fixture(scope="module")
def fast():
    return Synthesizer(random_vgg19(["relu3_1"]), levels=2, iterations=3, line_search=None)


def inputs():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    mask = np.zeros((40, 52), np.uint8)
    mask[10:26, 14:34] = 255
    return photo, mask


def test_pil_numpy_and_tensor_in_the_same_kind_out_equal_outside_the_hole(fast):
    photo, mask = inputs()
    hole = mask > 0
    as_pil = neuralpatch.inpaint(Image.fromarray(photo), Image.fromarray(mask), synthesizer=fast, device="cpu")
    as_array = neuralpatch.inpaint(photo, mask, synthesizer=fast, device="cpu")
    tensor = torch.from_numpy(photo).permute(2, 0, 1).float() / 255  # [3,H,W]
    as_tensor = neuralpatch.inpaint(tensor, torch.from_numpy(hole), synthesizer=fast, device="cpu")
    assert isinstance(as_pil, Image.Image) and as_pil.size == (52, 40)
    assert isinstance(as_array, np.ndarray) and as_array.dtype == np.uint8 and as_array.shape == photo.shape
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == tensor.shape
    for result in (np.asarray(as_pil), as_array):
        assert np.array_equal(result[~hole], photo[~hole]) and not np.array_equal(result[hole], photo[hole])
    assert np.array_equal(np.asarray(as_pil), as_array)
    assert torch.equal(as_tensor[:, ~torch.from_numpy(hole)], tensor[:, ~torch.from_numpy(hole)])


@pytest.mark.parametrize("image, mask, message", [
    (np.zeros((8, 8)), np.ones((8, 8)), "pass \\[H,W,3\\] RGB"),
    (np.zeros((8, 8, 3), np.uint8), np.ones((8, 9)), "pass a mask of the image's size"),
    (np.zeros((8, 8, 3), np.uint8), np.ones((8, 8)), "covers the whole image"),
    ("photo.jpg", np.ones((8, 8)), "pass a PIL image"),
])
def test_bad_arguments_are_one_line_errors(image, mask, message, fast):
    with pytest.raises(InputError, match=message):
        neuralpatch.inpaint(image, mask, synthesizer=fast, device="cpu")


def test_api_defaults_are_the_configs_defaults():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("inpaint")
    signature = inspect.signature(Synthesizer.__init__).parameters
    for key, value in {**cfg.synthesis, **cfg.pyramid}.items():
        assert signature[key].default == value, key
    def settings(prior):  # a prior's class and settings, its inner priors' too
        return type(prior), {k: settings(v) if hasattr(v, "name") else v for k, v in vars(prior).items()}

    assert settings(instantiate(cfg.prior)) == settings(default_prior())
    assert {k: cfg.texture[k] for k in DEFAULT_TEXTURE} == DEFAULT_TEXTURE
