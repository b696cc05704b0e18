"""MLIC++ and MLICv2 as one configurable compressai model (spec §1.1-1.2).

:class:`MLIC` subclasses compressai's ``CompressionModel``: the hyper-latent z is coded with an
``EntropyBottleneck``, the latent y with a ``GaussianConditional`` whose scales and means come
from the multi-reference context model, and ``compress``/``decompress`` write one rANS stream for
y (compressai's ``BufferedRansEncoder``/``RansDecoder``) next to the bottleneck's stream for z.

Decoding order: y is split into ``slices`` channel groups; in each slice the anchors
(checkerboard ``i + j`` odd) are decoded first, then the non-anchors. Context per slice s:

- anchors: hyperprior, global inter-slice context and channel context of the decoded slices
  ``< s`` (and, MLICv2, the hyperprior-guided global context HGCP for s = 0);
- non-anchors: additionally the local window attention over the slice's decoded anchors and the
  global intra-slice context (for s = 0, HGCP's non-anchor pass).

A latent residual prediction (LRP) refines the decoded anchors, then the decoded non-anchors.
MLICv2 adds the token-mixing transforms, HGCP, channel reweighting (CR) of the global contexts,
rotary position embedding (RoPE) in the local context, and guided selective compression (GSC):
a predictor on (scale, mean) decides per element whether it is coded; skipped elements cost no
bits and decode to the mean, and the decoder recomputes the same decision.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

with warnings.catch_warnings():  # compressai's import triggers a torch.jit FutureWarning
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.ans import BufferedRansEncoder, RansDecoder
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.layers import conv1x1, conv3x3, subpel_conv3x3
    from compressai.models import CompressionModel
    from compressai.ops import quantize_ste

from entropykit_compression.layers import (
    ChannelReweighting,
    GlobalInterContext,
    GlobalIntraContext,
    HyperGuidedContext,
    LocalContext,
    ResBlockDown,
    ResBlockUp,
    anchor_mask,
    stage_block,
)

VARIANTS: tuple[str, ...] = ("mlicpp", "mlicv2")
COMPONENTS: tuple[str, ...] = ("token_mixing", "hgcp", "cr", "rope", "gsc")
#: Spatial downsampling of the input to the hyper-latent z: inputs must be multiples of it.
STRIDE = 64


@dataclass
class MLICConfig:
    """Architecture of an :class:`MLIC` model.

    Attributes:
        variant: ``"mlicpp"`` (MLIC++) or ``"mlicv2"``; sets the default of every component flag.
        N: width of the transforms and of z (paper: 192).
        M: channels of the latent y (paper: 320).
        slices: channel slices of y (paper: 10, so 32 channels each); must divide M.
        window: side of the local-context attention window (paper: 5).
        token_mixing, hgcp, cr, rope, gsc: MLICv2 components (None: on for ``mlicv2``, off for
            ``mlicpp``); any combination is a valid ablation.
        gsc_threshold: scale below which the GSC guidance target says "skip" (tau; 0.3 as the
            reproduction we follow, the paper's value is unknown).
    """

    variant: str = "mlicv2"
    N: int = 192
    M: int = 320
    slices: int = 10
    window: int = 5
    token_mixing: bool | None = None
    hgcp: bool | None = None
    cr: bool | None = None
    rope: bool | None = None
    gsc: bool | None = None
    gsc_threshold: float = 0.3

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for name in ("N", "M", "slices", "window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.M % self.slices or (self.M // self.slices) % 2:
            raise ValueError(
                f"slices ({self.slices}) must divide M ({self.M}) into an even number of "
                "channels per slice"
            )
        if self.window % 2 == 0:
            raise ValueError(f"window must be odd (centred on each position), got {self.window}")
        if not self.gsc_threshold > 0:
            raise ValueError(f"gsc_threshold must be positive, got {self.gsc_threshold}")

    def flag(self, name: str) -> bool:
        """The resolved component flag (the variant's default when unset)."""
        value = getattr(self, name)
        return self.variant == "mlicv2" if value is None else bool(value)

    def resolved(self) -> dict[str, Any]:
        """The config with every component flag resolved (what a checkpoint stores)."""
        out = asdict(self)
        out.update({name: self.flag(name) for name in COMPONENTS})
        return out

    @classmethod
    def small(cls, variant: str = "mlicv2", **overrides: Any) -> MLICConfig:
        """The CPU-scale model of spec §5: N = 64, M = 128, 4 slices of 32 channels."""
        return cls(**{"variant": variant, "N": 64, "M": 128, "slices": 4, **overrides})

    @classmethod
    def tiny(cls, variant: str = "mlicv2", **overrides: Any) -> MLICConfig:
        """For tests: N = 16, M = 32, 2 slices of 16 channels."""
        return cls(**{"variant": variant, "N": 16, "M": 32, "slices": 2, **overrides})


def _mlp1x1(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(conv1x1(a, b))
        if i < len(widths) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


def _conv3_stack(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(conv3x3(a, b))
        if i < len(widths) - 2:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class _Slice(nn.Module):
    """The context model and parameter networks of one slice."""

    def __init__(self, cfg: MLICConfig, s: int) -> None:
        super().__init__()
        m, c = cfg.M, cfg.M // cfg.slices
        prev = s * c
        hyper = 2 * m
        hgcp = s == 0 and cfg.flag("hgcp")
        self.local = LocalContext(c, cfg.window, rope=cfg.flag("rope"))
        self.channel = _conv3_stack([prev, 3 * m // 5, 2 * m // 5, 4 * c]) if s else None
        self.inter = GlobalInterContext(prev, 2 * c) if s else None
        self.intra = GlobalIntraContext(c) if s else None
        cr = cfg.flag("cr") and s > 0
        self.cr_inter = ChannelReweighting(2 * c) if cr else None
        self.cr_intra = ChannelReweighting(2 * c) if cr else None
        global_ch = 2 * c + 4 * c if s else (2 * c if hgcp else 0)
        hidden = [m, 4 * m // 5, 2 * m // 5]
        self.ep_anchor = _mlp1x1([hyper + global_ch, *hidden, 2 * c])
        nonanchor_in = hyper + 2 * c + global_ch + (2 * c if s else 0) + (2 * c if hgcp else 0)
        self.ep_nonanchor = _mlp1x1([nonanchor_in, *hidden, 2 * c])
        lrp = [m + prev + c, 7 * m // 10, 2 * m // 5, c]
        self.lrp_anchor = _conv3_stack(lrp)
        self.lrp_nonanchor = _conv3_stack(lrp)
        self.gsc = _mlp1x1([2 * c, c, c]) if cfg.flag("gsc") else None
        if self.gsc is not None:  # start by coding every element (a skip-all GSC kills gradients)
            nn.init.zeros_(self.gsc[-1].weight)
            nn.init.constant_(self.gsc[-1].bias, 4.0)


#: ``code(part, slice_index, scales, means, positions) -> y_hat of the part`` (zero elsewhere),
#: where ``positions`` is the (1, 1, H, W) mask of the part (anchors or non-anchors).
Coder = Callable[[str, int, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class MLIC(CompressionModel):
    """MLIC++ / MLICv2 learned image codec (see the module docstring).

    ``forward(x)`` (training and rate estimation) returns ``{"x_hat", "likelihoods": {"y",
    "z"}, "gsc": {...}}``; ``compress(x)`` returns ``{"strings": [y_strings, z_strings],
    "shape": z_hw}`` and ``decompress(strings, shape)`` returns ``{"x_hat"}``. Inputs are
    (B, 3, H, W) in [0, 1] with H and W multiples of 64 (pad with
    :func:`entropykit_compression.data.pad_to_multiple`). Call ``update(force=True)`` after
    training or loading weights and before ``compress``.
    """

    def __init__(self, config: MLICConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = MLICConfig() if config is None else config
        if not isinstance(cfg, MLICConfig):
            raise ValueError(f"config must be an MLICConfig, got {type(config).__name__}")
        n, m, tm = cfg.N, cfg.M, cfg.flag("token_mixing")
        self.num_slices, self.slice_ch = cfg.slices, m // cfg.slices
        self.g_a = nn.Sequential(
            ResBlockDown(3, n),
            stage_block(n, n, tm),
            ResBlockDown(n, n),
            stage_block(n, n, tm),
            ResBlockDown(n, n),
            stage_block(n, n, tm),
            conv3x3(n, m, stride=2),
        )
        self.g_s = nn.Sequential(
            stage_block(m, m, tm),
            ResBlockUp(m, n),
            stage_block(n, n, tm),
            ResBlockUp(n, n),
            stage_block(n, n, tm),
            ResBlockUp(n, n),
            stage_block(n, n, tm),
            subpel_conv3x3(n, 3, 2),
        )
        gelu = nn.GELU
        self.h_a = nn.Sequential(
            conv3x3(m, n), gelu(), conv3x3(n, n), gelu(), conv3x3(n, n, stride=2), gelu(),
            conv3x3(n, n), gelu(), conv3x3(n, n, stride=2),
        )  # fmt: skip
        self.h_s = nn.Sequential(
            conv3x3(n, m), gelu(), subpel_conv3x3(m, m, 2), gelu(), conv3x3(m, 3 * m // 2),
            gelu(), subpel_conv3x3(3 * m // 2, 3 * m // 2, 2), gelu(), conv3x3(3 * m // 2, 2 * m),
        )  # fmt: skip
        self.entropy_bottleneck = EntropyBottleneck(n)
        self.gaussian_conditional = GaussianConditional(None)
        self.hgcp = HyperGuidedContext(m, self.slice_ch) if cfg.flag("hgcp") else None
        self.slice_models = nn.ModuleList(_Slice(cfg, s) for s in range(cfg.slices))
        #: Selective compression on/off (a plain attribute, not saved). Training keeps it off
        #: until its GSC phase so that the codec first learns to code every element; it must be
        #: the same when compressing and decompressing.
        self.gsc_enabled = True

    # ------------------------------------------------------------------------- context model
    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a (B, 3, H, W) image tensor, got {shape}")
        if not x.is_floating_point():
            raise ValueError(
                f"x must be a float image in [0, 1], got {x.dtype}; convert 8-bit images with "
                "x.float() / 255"
            )
        if x.shape[0] == 0:
            raise ValueError("x is an empty batch; pass at least one image")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or infinite values")
        h, w = x.shape[-2:]
        if h % STRIDE or w % STRIDE:
            raise ValueError(
                f"image size {h}x{w} is not a multiple of {STRIDE}; pad it first "
                "(entropykit_compression.data.pad_to_multiple)"
            )

    def _gsc_mask(self, sm: _Slice, scales: torch.Tensor, means: torch.Tensor) -> Any:
        """(hard 0/1 code mask with straight-through gradient, logits) or (None, None) when the
        model has no GSC or it is switched off (:attr:`gsc_enabled`)."""
        if sm.gsc is None or not self.gsc_enabled:
            return None, None
        logits = sm.gsc(torch.cat([scales, means], dim=1))
        prob = torch.sigmoid(logits)
        hard = (prob > 0.5).to(prob.dtype)
        return hard + (prob - prob.detach()), logits  # exactly 0/1 forward, sigmoid gradient

    def _slices(self, hyper_params: torch.Tensor, code: Coder) -> torch.Tensor:
        """Run the context model over all slices in decoding order; ``code`` quantises (or
        entropy-codes) each part. Returns y_hat (B, M, H, W)."""
        hyper_scales, hyper_means = hyper_params.chunk(2, dim=1)
        h, w = hyper_params.shape[-2:]
        mask_a = anchor_mask(h, w, hyper_params.device)
        decoded: list[torch.Tensor] = []
        hgcp_anchor = self.hgcp.anchor(hyper_scales) if self.hgcp is not None else None
        for s, sm in enumerate(self.slice_models):
            anchor_ctx = [hyper_params]
            nonanchor_ctx = [hyper_params]
            if s:
                prev = torch.cat(decoded, dim=1)
                inter = sm.inter(prev)
                if sm.cr_inter is not None:
                    inter = sm.cr_inter(inter)
                glob = [inter, sm.channel(prev)]
                anchor_ctx += glob
                nonanchor_ctx += glob
            elif hgcp_anchor is not None:
                anchor_ctx.append(hgcp_anchor)
                nonanchor_ctx.append(hgcp_anchor)
            prev_and_means = [hyper_means, *decoded]

            scales_a, means_a = sm.ep_anchor(torch.cat(anchor_ctx, dim=1)).chunk(2, dim=1)
            y_a = code("anchor", s, scales_a, means_a, mask_a)
            y_a = y_a + mask_a * 0.5 * torch.tanh(
                sm.lrp_anchor(torch.cat([*prev_and_means, y_a], dim=1))
            )

            nonanchor_ctx.append(sm.local(y_a))
            if s:
                intra = sm.intra(decoded[-1], y_a)
                if sm.cr_intra is not None:
                    intra = sm.cr_intra(intra)
                nonanchor_ctx.append(intra)
            elif self.hgcp is not None:
                nonanchor_ctx.append(self.hgcp.nonanchor(hyper_scales, y_a))
            scales_n, means_n = sm.ep_nonanchor(torch.cat(nonanchor_ctx, dim=1)).chunk(2, dim=1)
            y_n = code("nonanchor", s, scales_n, means_n, 1.0 - mask_a)
            y_s = y_a + y_n
            y_s = y_s + (1.0 - mask_a) * 0.5 * torch.tanh(
                sm.lrp_nonanchor(torch.cat([*prev_and_means, y_s], dim=1))
            )
            decoded.append(y_s)
        return torch.cat(decoded, dim=1)

    def _hyper(self, z_hat: torch.Tensor) -> torch.Tensor:
        return self.h_s(z_hat)

    # ------------------------------------------------------------------------- training path
    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        """Rate-distortion forward pass: uniform-noise likelihoods for the rate (hard rounding in
        eval mode), STE rounding around the means for the reconstruction (mixed quantisation, as
        MLIC++)."""
        self._check_input(x)
        y = self.g_a(x)
        return self.forward_latents(y, self.h_a(y))

    def forward_latents(
        self,
        y: torch.Tensor,
        z: torch.Tensor,
        relaxed: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """The forward pass from given latents y (B, M, h, w) and z (B, N, h/4, w/4).

        ``relaxed``: a differentiable stand-in for rounding (e.g. SGA's annealed stochastic
        rounding). With it, y (around the context means) and z (around the bottleneck's
        medians) are quantised by ``relaxed`` and the likelihoods are evaluated at those relaxed
        values, so the rate is differentiable in y and z; without it, the training
        quantisation above.
        """
        if relaxed is None:
            _, z_likelihoods = self.entropy_bottleneck(z)
            z_offset = self.entropy_bottleneck._get_medians()
            z_hat = quantize_ste(z - z_offset) + z_offset
        else:
            z_offset = self.entropy_bottleneck._get_medians()
            z_hat = relaxed(z - z_offset) + z_offset
            z_likelihoods = self._bottleneck_likelihood(z_hat)
        hyper_params = self._hyper(z_hat)
        y_slices = y.split(self.slice_ch, dim=1)
        logits: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []
        parts: dict[tuple[int, str], tuple[torch.Tensor, ...]] = {}
        rounded: dict[int, torch.Tensor] = {}

        def code(part: str, s: int, sc: torch.Tensor, mu: torch.Tensor, pos: torch.Tensor) -> Any:
            keep, lg = self._gsc_mask(self.slice_models[s], sc, mu)
            if relaxed is None:
                y_q = quantize_ste(y_slices[s] - mu) + mu
            else:
                y_q = relaxed(y_slices[s] - mu) + mu
            if keep is not None:
                y_q = keep * y_q + (1.0 - keep) * mu
                where = pos[0, 0].bool()
                bounded = self.gaussian_conditional.lower_bound_scale(sc)
                logits.append(lg[:, :, where])
                targets.append((bounded >= self.config.gsc_threshold)[:, :, where].to(lg.dtype))
            parts[(s, part)] = (sc, mu, pos, keep)
            rounded[s] = rounded.get(s, 0) + y_q * pos
            return y_q * pos

        y_hat = self._slices(hyper_params, code)
        like_y = []
        for s in range(self.num_slices):
            sc_a, mu_a, pos_a, keep_a = parts[(s, "anchor")]
            sc_n, mu_n, pos_n, keep_n = parts[(s, "nonanchor")]
            scales = sc_a * pos_a + sc_n * pos_n
            means = mu_a * pos_a + mu_n * pos_n
            if relaxed is None:
                _, lik = self.gaussian_conditional(y_slices[s], scales, means)
            else:
                gc = self.gaussian_conditional
                lik = gc.likelihood_lower_bound(gc._likelihood(rounded[s], scales, means))
            if keep_a is not None:
                coded = keep_a * pos_a + keep_n * pos_n
                lik = torch.exp(coded * torch.log(lik))  # skipped elements: likelihood**0 = 1
            like_y.append(lik)
        out: dict[str, Any] = {
            "x_hat": self.g_s(y_hat),
            "likelihoods": {"y": torch.cat(like_y, dim=1), "z": z_likelihoods},
        }
        if logits:
            flat_logits = torch.cat([lg.flatten() for lg in logits])
            out["gsc"] = {
                "logits": flat_logits,
                "targets": torch.cat([t.flatten() for t in targets]),
                "skip_rate": float((flat_logits <= 0).float().mean()),
            }
        return out

    def _bottleneck_likelihood(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Likelihood of (possibly non-integer) z values under the factorised prior, shaped like
        ``z_hat`` (compressai evaluates it per channel on (C, 1, n) rows)."""
        eb = self.entropy_bottleneck
        b, c, h, w = z_hat.shape
        values = z_hat.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lik, _, _ = eb._likelihood(values)
        if eb.use_likelihood_bound:
            lik = eb.likelihood_lower_bound(lik)
        return lik.reshape(c, b, h, w).permute(1, 0, 2, 3)

    # ------------------------------------------------------------------------- real coding
    def _coding_tables(self) -> tuple[list, list, list]:
        gc = self.gaussian_conditional
        if gc.quantized_cdf.numel() == 0:
            raise RuntimeError("the entropy model has no CDF tables; call model.update(force=True)")
        return (
            gc.quantized_cdf.tolist(),
            gc.cdf_length.reshape(-1).int().tolist(),
            gc.offset.reshape(-1).int().tolist(),
        )

    @torch.no_grad()
    def compress(self, x: torch.Tensor) -> dict[str, Any]:
        """Entropy-code a batch: one rANS stream for y and the bottleneck's stream for z per
        image. Returns ``{"strings": [y_strings, z_strings], "shape": (h_z, w_z),
        "skip_rate": share of y elements GSC left uncoded}``."""
        self._check_input(x)
        y = self.g_a(x)
        return self.compress_latents(y, self.h_a(y))

    @torch.no_grad()
    def compress_latents(self, y: torch.Tensor, z: torch.Tensor) -> dict[str, Any]:
        """:meth:`compress` from given latents (e.g. refined by SGA); same output."""
        if y.ndim != 4 or z.ndim != 4 or y.shape[0] != z.shape[0]:
            raise ValueError(
                f"y and z must be (B, C, h, w) latents of one batch, got {tuple(y.shape)} and "
                f"{tuple(z.shape)}"
            )
        if not (torch.isfinite(y).all() and torch.isfinite(z).all()):
            raise ValueError("the latents contain NaN or infinite values; nothing can be coded")
        tables = self._coding_tables()
        y_strings, z_strings, skipped, total = [], [], 0, 0
        for yi, zi in zip(y.split(1), z.split(1), strict=True):
            y_string, z_string, counts = self._compress_one(yi, zi, tables)
            y_strings.append(y_string)
            z_strings.append(z_string)
            skipped, total = skipped + counts[0], total + counts[1]
        return {
            "strings": [y_strings, z_strings],
            "shape": tuple(z.shape[-2:]),
            "skip_rate": skipped / max(total, 1),
        }

    def _compress_one(
        self, y: torch.Tensor, z: torch.Tensor, tables: tuple[list, list, list]
    ) -> tuple[bytes, bytes, tuple[int, int]]:
        """(y stream, z stream, (skipped, total) y elements) of one image."""
        z_string = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_string, z.shape[-2:])
        y_slices = y.split(self.slice_ch, dim=1)
        symbols: list[int] = []
        indexes: list[int] = []
        counts = [0, 0]

        def code(part: str, s: int, sc: torch.Tensor, mu: torch.Tensor, pos: torch.Tensor) -> Any:
            sel = self._selection(s, sc, mu, pos)
            q = self.gaussian_conditional.quantize(y_slices[s], "symbols", mu)
            symbols.extend(q[sel].tolist())
            indexes.extend(self.gaussian_conditional.build_indexes(sc)[sel].tolist())
            in_part = int((pos.expand_as(sc) > 0.5).sum())
            counts[0] += in_part - int(sel.sum())
            counts[1] += in_part
            return self._dequantized(q, mu, sel, pos)

        self._slices(self._hyper(z_hat), code)
        # compressai's BufferedRansEncoder.flush writes out of bounds for fewer than 2 symbols
        # (e.g. when GSC skips everything); the decoder never reads the padding.
        pad = max(0, 2 - len(symbols))
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(symbols + [0] * pad, indexes + [0] * pad, *tables)
        return encoder.flush(), z_string[0], (counts[0], counts[1])

    def _selection(
        self, s: int, scales: torch.Tensor, means: torch.Tensor, pos: torch.Tensor
    ) -> torch.Tensor:
        """Boolean mask of the elements of this part that are entropy-coded (recomputed the same
        way by the decoder from the already decoded information)."""
        sel = pos.expand_as(scales) > 0.5
        keep, _ = self._gsc_mask(self.slice_models[s], scales, means)
        return sel if keep is None else sel & (keep > 0.5)

    @staticmethod
    def _dequantized(
        q: torch.Tensor, means: torch.Tensor, sel: torch.Tensor, pos: torch.Tensor
    ) -> torch.Tensor:
        """Coded elements: symbol + mean; skipped ones: the mean; other parts: 0."""
        return torch.where(sel, q.to(means.dtype) + means, means) * pos

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: tuple[int, int]) -> dict[str, Any]:
        """Decode what :meth:`compress` wrote; ``shape`` is the hyper-latent size it returned."""
        if not isinstance(strings, list | tuple) or len(strings) != 2:
            raise ValueError("strings must be [y_strings, z_strings] as compress() returns them")
        y_strings, z_strings = strings
        if len(y_strings) != len(z_strings):
            raise ValueError("y_strings and z_strings must hold one stream per image")
        tables = self._coding_tables()
        x_hats = [
            self._decompress_one(y_string, z_string, tuple(shape), tables)
            for y_string, z_string in zip(y_strings, z_strings, strict=True)
        ]
        return {"x_hat": torch.cat(x_hats)}

    def _decompress_one(
        self, y_string: bytes, z_string: bytes, shape: tuple[int, int], tables: tuple
    ) -> torch.Tensor:
        if not isinstance(y_string, bytes) or len(y_string) < 8:
            raise ValueError("a y stream is shorter than the 8 bytes every stream has: truncated")
        z_hat = self.entropy_bottleneck.decompress([z_string], shape)
        decoder = RansDecoder()
        decoder.set_stream(y_string)

        def code(part: str, s: int, sc: torch.Tensor, mu: torch.Tensor, pos: torch.Tensor) -> Any:
            sel = self._selection(s, sc, mu, pos)
            idx = self.gaussian_conditional.build_indexes(sc)[sel].tolist()
            values = decoder.decode_stream(idx, *tables)
            q = torch.zeros_like(mu)
            q[sel] = torch.tensor(values, dtype=mu.dtype, device=mu.device)
            return self._dequantized(q, mu, sel, pos)

        return self.g_s(self._slices(self._hyper(z_hat), code)).clamp_(0, 1)
