"""Networks of the training-dynamics study at CPU scale: a small CNN, a small ViT (timm), the SimCLR
projection head, and the paper's initialisation.

Every classifier here ends in an ``nn.Linear`` reachable as ``model.classifier`` and
``model.get_classifier()`` (timm's ``head`` for the ViT), is the last ``nn.Linear`` registered, and
exposes ``features(x)``: the ``(B, num_features)`` penultimate representation Z, i.e. exactly the
input of that last linear layer (what the paper measures DSE and DSMI on).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

#: Standard deviation of the paper's initialisation of every ``nn.Linear`` weight.
PAPER_LINEAR_STD = 1e-3

ModelFactory = Callable[..., nn.Module]
MODELS: dict[str, ModelFactory] = {}


def register_model(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator adding a factory ``f(in_channels, num_classes, image_size, **kw) -> nn.Module``
    to :data:`MODELS` under ``name``."""

    def add(factory: ModelFactory) -> ModelFactory:
        MODELS[name] = factory
        return factory

    return add


def paper_init_(
    module: nn.Module, conv_init_std: float | None = None, linear_std: float = PAPER_LINEAR_STD
) -> nn.Module:
    """The paper's initialisation, in place, over every sub-module.

    Convolutions: Kaiming normal (fan-in, ReLU gain), or N(0, conv_init_std²) when
    ``conv_init_std`` is given (the initialisation study compares N(0, 0.01²) with N(0, 0.1²));
    batch norms: weight 1, bias 0; linear layers: weight N(0, linear_std²); every bias 0.
    """
    if conv_init_std is not None and conv_init_std <= 0:
        raise ValueError(
            f"conv_init_std must be a positive standard deviation, got {conv_init_std}"
        )
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            if conv_init_std is None:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, mean=0.0, std=conv_init_std)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(m.weight)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=linear_std)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


class SmallCNN(nn.Module):
    """Two conv blocks and two fully connected layers (the study's CPU-scale ConvNet).

    ``conv(3x3) -> BN -> ReLU -> maxpool 2`` with ``width`` then ``2 * width`` channels, adaptive
    average pooling to ``pool_size x pool_size`` (so any input size works), then
    ``Linear -> ReLU`` to the ``feature_dim``-d representation Z and ``classifier = Linear`` to the
    logits.

    Args:
        in_channels: image channels.
        num_classes: number of logits.
        width: channels of the first conv block.
        feature_dim: size of the penultimate representation Z.
        pool_size: spatial size after adaptive pooling (4 matches 16-pixel inputs exactly).
        conv_init_std: ``None`` for the paper's Kaiming init, else the std of N(0, s²) conv weights.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        feature_dim: int = 64,
        pool_size: int = 4,
        conv_init_std: float | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("num_classes", num_classes),
            ("width", width),
            ("feature_dim", feature_dim),
            ("pool_size", pool_size),
        ):
            if value < 1:
                raise ValueError(f"SmallCNN {name} must be >= 1, got {value}")
        self.num_classes = num_classes
        self.num_features = feature_dim
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(pool_size),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(2 * width * pool_size**2, feature_dim), nn.ReLU())
        self.classifier = nn.Linear(feature_dim, num_classes)
        paper_init_(self, conv_init_std=conv_init_std)

    def get_classifier(self) -> nn.Module:
        """The final linear layer (timm's name for this accessor)."""
        return self.classifier

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation Z: ``(B, C, H, W)`` images -> ``(B, feature_dim)``.

        Images smaller than 4 x 4 pixels cannot pass the two poolings.
        """
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)``."""
        return self.classifier(self.features(x))


@functools.cache
def _small_vit_class() -> type[nn.Module]:
    # timm is imported on first use: it costs seconds that CNN-only runs need not pay.
    from timm.models.vision_transformer import VisionTransformer

    class SmallViT(VisionTransformer):
        """timm's ``VisionTransformer`` with a ``features`` method returning the pooled, normed
        class token (the input of ``head``, the final ``nn.Linear``)."""

        @property
        def classifier(self) -> nn.Module:
            """The final linear layer (timm's ``head``)."""
            return self.head

        def features(self, x: torch.Tensor) -> torch.Tensor:
            """Penultimate representation Z: ``(B, C, H, W)`` images -> ``(B, embed_dim)``."""
            return self.forward_head(self.forward_features(x), pre_logits=True)

    return SmallViT


def small_vit(
    image_size: int = 16,
    patch_size: int = 4,
    num_classes: int = 10,
    in_chans: int = 1,
    embed_dim: int = 64,
    depth: int = 4,
    num_heads: int = 4,
    mlp_ratio: float = 4.0,
    init: str = "paper",
    conv_init_std: float | None = None,
) -> nn.Module:
    """A small Vision Transformer (a subclass of timm's ``VisionTransformer`` with a ``features``
    method) trained from scratch; no pretrained weights are loaded.

    The paper uses vit_tiny_patch16_224 (192-d, 12 blocks) on 224-pixel images; this keeps the
    architecture (class token, learned position embedding, pre-norm blocks) at digit scale. On the
    1203 training digits it needs many more steps than the CNN: 30 epochs at batch 32 (lr 1e-3)
    reached 0.84 validation accuracy with ``init="paper"`` and 0.93 with ``init="timm"``, at batch
    128 only 0.36 (seed 0, CPU).

    Args:
        image_size: input side length; must be a multiple of ``patch_size``.
        patch_size: side length of a patch (one token).
        num_classes: number of logits.
        in_chans: image channels.
        embed_dim: token width, also the size of Z; must be a multiple of ``num_heads``.
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: hidden width of the block MLPs relative to ``embed_dim``.
        init: ``"paper"`` (:func:`paper_init_` applied over timm's initialisation, as the paper
            did for its timm models) or ``"timm"`` (timm's own initialisation).
        conv_init_std: with ``init="paper"``, std of the patch-embedding conv weights (``None``:
            Kaiming).
    """
    if image_size % patch_size:
        raise ValueError(
            f"image_size {image_size} is not a multiple of patch_size {patch_size}; "
            "resize the images or pick a patch size that divides them"
        )
    if embed_dim % num_heads:
        raise ValueError(f"embed_dim {embed_dim} must be a multiple of num_heads {num_heads}")
    if init not in ("paper", "timm"):
        raise ValueError(f"unknown init {init!r}; choose 'paper' or 'timm'")
    model = _small_vit_class()(
        img_size=image_size,
        patch_size=patch_size,
        in_chans=in_chans,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
    )
    if init == "paper":
        paper_init_(model, conv_init_std=conv_init_std)
    return model


class ProjectionHead(nn.Module):
    """SimCLR projection g(h): ``Linear(no bias) -> BatchNorm1d -> ReLU -> Linear``, as in the
    paper's code (there ``hidden_dim = in_dim`` and ``out_dim = 128``).

    Args:
        in_dim: size of the representation Z it reads.
        hidden_dim: hidden width (``None``: ``in_dim``).
        out_dim: size of the projected vector the contrastive loss compares.
    """

    def __init__(self, in_dim: int, hidden_dim: int | None = None, out_dim: int = 128) -> None:
        super().__init__()
        hidden = in_dim if hidden_dim is None else hidden_dim
        if min(in_dim, hidden, out_dim) < 1:
            raise ValueError(
                f"ProjectionHead sizes must be >= 1, got in={in_dim}, hidden={hidden}, "
                f"out={out_dim}"
            )
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out_dim),
        )
        paper_init_(self)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, in_dim)`` -> ``(B, out_dim)``."""
        return self.net(h)


@register_model("cnn")
def _cnn(in_channels: int, num_classes: int, image_size: int, **kwargs: Any) -> nn.Module:
    if image_size < 4:
        raise ValueError(f"the CNN needs images of at least 4 x 4 pixels, got {image_size}")
    return SmallCNN(in_channels=in_channels, num_classes=num_classes, **kwargs)


@register_model("vit")
def _vit(in_channels: int, num_classes: int, image_size: int, **kwargs: Any) -> nn.Module:
    return small_vit(image_size=image_size, num_classes=num_classes, in_chans=in_channels, **kwargs)


def build_model(
    name: str,
    *,
    num_classes: int = 10,
    in_channels: int = 1,
    image_size: int = 16,
    seed: int = 0,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model with seeded weights, leaving the global random state untouched.

    Args:
        name: a key of :data:`MODELS` (``"cnn"``, ``"vit"``).
        num_classes, in_channels, image_size: what the data needs (the CNN accepts any size of at
            least 4 pixels; the ViT only ``image_size``).
        seed: seed of the initial weights.
        kwargs: the model's own options (``width``, ``feature_dim``, ``conv_init_std`` for the CNN;
            ``patch_size``, ``embed_dim``, ``depth``, ``num_heads``, ``init``... for the ViT).

    Returns:
        The model, with ``features(x)`` giving Z and a final ``nn.Linear`` classifier.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            return MODELS[name](in_channels, num_classes, image_size, **kwargs)
        except TypeError as err:
            raise ValueError(f"bad option for model {name!r}: {err}") from None
