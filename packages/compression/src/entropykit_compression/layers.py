"""Building blocks of the MLIC++ / MLICv2 transforms and context models.

Transforms (spec §1.1, §1.2.1): residual blocks with GELU and GDN (MLIC++), and the MLICv2
token-mixing block that replaces them. Context models (spec §1.1, §1.2.2-4): checkerboard masks,
efficient linear attention, the channel context, the local window attention over anchors, the
global inter- and intra-slice contexts, the hyperprior-guided global context of the first slice
(HGCP), channel reweighting (CR) and the 2-D rotary position embedding (RoPE).

Tensors are (B, C, H, W). Checkerboard parity follows MLIC: *anchors* are the positions with
``(i + j)`` odd, decoded first; *non-anchors* (``i + j`` even) are decoded second and may see the
anchors. compressai's own checkerboard codec uses the opposite parity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from compressai.layers import GDN, conv1x1, conv3x3, subpel_conv3x3
from timm.layers import LayerNorm2d
from torch import nn


# ----------------------------------------------------------------------------- checkerboard
def anchor_mask(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, H, W) float mask, 1 at anchor positions (``i + j`` odd)."""
    i = torch.arange(height, device=device)[:, None]
    j = torch.arange(width, device=device)[None, :]
    return ((i + j) % 2 == 1).to(torch.float32)[None, None]


# ----------------------------------------------------------------------------- transforms
class ResBlock(nn.Module):
    """conv3x3 -> GELU -> conv3x3 -> GELU, plus the input (1x1 conv when widths differ)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3x3(cin, cout), nn.GELU(), conv3x3(cout, cout), nn.GELU())
        self.skip = conv1x1(cin, cout) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class ResBlockDown(nn.Module):
    """Stride-2 residual block: conv3x3/2 -> GELU -> conv3x3 -> GDN, plus a strided 1x1 skip."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv3x3(cin, cout, stride=2), nn.GELU(), conv3x3(cout, cout), GDN(cout)
        )
        self.skip = conv1x1(cin, cout, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class ResBlockUp(nn.Module):
    """x2 residual block: subpel conv -> GELU -> conv3x3 -> IGDN, plus a subpel skip."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            subpel_conv3x3(cin, cout, 2), nn.GELU(), conv3x3(cout, cout), GDN(cout, inverse=True)
        )
        self.skip = subpel_conv3x3(cin, cout, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Gate(nn.Module):
    """``u * sigmoid(1x1(GELU(dw3x3(GELU(1x1(LN(u)))))))``: a spatially aware channel gate."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            LayerNorm2d(ch),
            conv1x1(ch, ch),
            nn.GELU(),
            nn.Conv2d(ch, ch, 3, padding=1, groups=ch),
            nn.GELU(),
            conv1x1(ch, ch),
        )

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u * torch.sigmoid(self.net(u))


class TokenMixingBlock(nn.Module):
    """MLICv2's simple token-mixing block (MetaFormer style):
    ``x + TM(LN(x))`` with TM = depthwise residual block (dw3x3, GELU, 1x1, GELU, + identity) ->
    dw5x5 -> 1x1, then ``x + Gate(LN(x))``."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(ch)
        self.dw_res = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, groups=ch), nn.GELU(), conv1x1(ch, ch), nn.GELU()
        )
        self.mix = nn.Sequential(nn.Conv2d(ch, ch, 5, padding=2, groups=ch), conv1x1(ch, ch))
        self.norm2 = LayerNorm2d(ch)
        self.gate = Gate(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.norm1(x)
        x = x + self.mix(u + self.dw_res(u))
        return x + self.gate(self.norm2(x))


def stage_block(cin: int, cout: int, token_mixing: bool) -> nn.Module:
    """The non-resampling block of a transform stage: one MLIC++ residual block, or (MLICv2)
    two token-mixing blocks (with a 1x1 projection first when the widths differ)."""
    if not token_mixing:
        return ResBlock(cin, cout)
    proj: list[nn.Module] = [] if cin == cout else [conv1x1(cin, cout)]
    return nn.Sequential(*proj, TokenMixingBlock(cout), TokenMixingBlock(cout))


# ----------------------------------------------------------------------------- attention
def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """Efficient (linear) attention: keys softmax-normalised over positions, queries over
    channels, ``out = (softmax_pos(K) V^T)^T softmax_ch(Q)`` per head.

    Args:
        q: (B, Ck, Nq) queries; k: (B, Ck, Nk) keys; v: (B, Cv, Nk) values; heads divides Ck, Cv.

    Returns:
        (B, Cv, Nq).
    """
    b, ck, nq = q.shape
    cv = v.shape[1]
    q = q.reshape(b, heads, ck // heads, nq).softmax(dim=2)
    k = k.reshape(b, heads, ck // heads, -1).softmax(dim=3)
    v = v.reshape(b, heads, cv // heads, -1)
    context = k @ v.transpose(2, 3)  # (B, h, ck/h, cv/h): a global summary of the keys' positions
    return (context.transpose(2, 3) @ q).reshape(b, cv, nq)


def _heads(ch: int, per_head: int = 32) -> int:
    """Number of attention heads: about one per ``per_head`` channels, a divisor of ``ch``."""
    return next(h for h in range(max(1, ch // per_head), 0, -1) if ch % h == 0)


class Rope2d(nn.Module):
    """2-D rotary position embedding (MLICv2's positional embedding for context modelling).

    Channel pairs ``(2k, 2k+1)`` of a (B, C, H, W) query/key map are rotated by
    ``i * theta_y^(-2k/C) + j * theta_x^(-2k/C)``; the bases start at 10000 and are learnt (in
    log space). The dot product of a rotated query and key then depends on their offset only.
    """

    def __init__(self, ch: int) -> None:
        super().__init__()
        if ch % 2:
            raise ValueError(f"rotary embedding needs an even channel count, got {ch}")
        self.log_theta = nn.Parameter(torch.full((2,), math.log(10000.0)))
        self.register_buffer("expo", torch.arange(0, ch, 2, dtype=torch.float32) / ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        freq_y = torch.exp(-self.log_theta[0] * self.expo)  # (C/2,)
        freq_x = torch.exp(-self.log_theta[1] * self.expo)
        iy = torch.arange(h, device=x.device, dtype=x.dtype)
        ix = torch.arange(w, device=x.device, dtype=x.dtype)
        angle = (
            iy[None, :, None] * freq_y[:, None, None] + ix[None, None, :] * freq_x[:, None, None]
        )
        cos, sin = angle.cos(), angle.sin()  # (C/2, H, W)
        a, b = x[:, 0::2], x[:, 1::2]
        return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=2).reshape(x.shape)


class LocalContext(nn.Module):
    """Overlapped window attention over decoded anchors (spec §1.1 local context).

    Every position attends to the anchors in the ``window x window`` neighbourhood centred on it
    (non-anchor and out-of-image neighbours are masked out), with a learnt bias per relative
    offset (MLIC++) or a rotary embedding of queries and keys (MLICv2). The attended features are
    fused by a 5x5 conv to 2c channels and refined by a residual MLP.

    Input: (B, c, H, W) quantised slice with non-anchor positions zeroed. Output: (B, 2c, H, W).
    """

    def __init__(self, ch: int, window: int = 5, rope: bool = False) -> None:
        super().__init__()
        self.ch, self.window, self.heads = ch, window, _heads(ch, per_head=16)
        self.norm = LayerNorm2d(ch)
        self.qkv = conv1x1(ch, 3 * ch)
        self.rope = Rope2d(ch) if rope else None
        self.bias = None if rope else nn.Parameter(torch.zeros(self.heads, window * window))
        self.fuse = nn.Conv2d(ch, 2 * ch, 5, padding=2)
        self.mlp = nn.Sequential(conv1x1(2 * ch, 4 * ch), nn.GELU(), conv1x1(4 * ch, 2 * ch))

    def forward(self, y_anchor: torch.Tensor) -> torch.Tensor:
        b, c, h, w = y_anchor.shape
        k2, pad, hd = self.window**2, self.window // 2, c // self.heads
        mask = anchor_mask(h, w, y_anchor.device)
        q, k, v = self.qkv(self.norm(y_anchor) * mask).chunk(3, dim=1)
        if self.rope is not None:
            q, k = self.rope(q), self.rope(k)
        # neighbourhoods: (B, C, k2, H*W); zero padding outside the image
        kn = F.unfold(k, self.window, padding=pad).reshape(b, self.heads, hd, k2, h * w)
        vn = F.unfold(v, self.window, padding=pad).reshape(b, self.heads, hd, k2, h * w)
        visible = F.unfold(mask.expand(1, 1, h, w), self.window, padding=pad) > 0.5  # (1,k2,HW)
        logits = (q.reshape(b, self.heads, hd, 1, h * w) * kn).sum(dim=2) / math.sqrt(hd)
        if self.bias is not None:
            logits = logits + self.bias[None, :, :, None]
        logits = logits.masked_fill(~visible[:, None], float("-inf"))
        attn = torch.nan_to_num(logits.softmax(dim=2), nan=0.0)  # no visible anchor: zeros
        out = (attn[:, :, None] * vn).sum(dim=3).reshape(b, c, h, w)
        out = self.fuse(out)
        return out + self.mlp(out)


class ChannelReweighting(nn.Module):
    """MLICv2 channel reweighting of a context tensor X (C x H x W): channel-to-channel attention
    ``A = softmax(Q K^T / sqrt(HW))`` (C x C), ``Y = LN(1x1(A V))``, output ``X + Y + Gate(Y)``."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(ch)
        self.qkv = conv1x1(ch, 3 * ch)
        self.proj = conv1x1(ch, ch)
        self.norm_out = LayerNorm2d(ch)
        self.gate = Gate(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = (t.reshape(b, c, h * w) for t in self.qkv(self.norm(x)).chunk(3, dim=1))
        attn = (q @ k.transpose(1, 2) / math.sqrt(h * w)).softmax(dim=-1)
        y = self.norm_out(self.proj((attn @ v).reshape(b, c, h, w)))
        return x + y + self.gate(y)


class _QKV(nn.Module):
    """1x1 conv followed by a depthwise 3x3 conv (the projections of the global contexts)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            conv1x1(cin, cout), nn.Conv2d(cout, cout, 3, padding=1, groups=cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Refine(nn.Module):
    """Reprojection of attended features: 5x5 conv to ``cout``, then ``r + MLP(r)``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, 5, padding=2)
        self.mlp = nn.Sequential(
            conv1x1(cout, 2 * cout),
            nn.GELU(),
            nn.Conv2d(2 * cout, 2 * cout, 3, padding=1, groups=2 * cout),
            nn.GELU(),
            conv1x1(2 * cout, cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.proj(x)
        return r + self.mlp(r)


class GlobalInterContext(nn.Module):
    """Global inter-slice context: linear self-attention over the decoded previous slices
    ``cat(y_hat^{<s})`` (s*c channels), reprojected to 2c channels."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.heads = _heads(cin)
        self.q, self.k, self.v = _QKV(cin, cin), _QKV(cin, cin), _QKV(cin, cin)
        self.skip = conv1x1(cin, cout)
        self.refine = _Refine(cin, cout)

    def forward(self, prev: torch.Tensor) -> torch.Tensor:
        b, c, h, w = prev.shape
        flat = [f(prev).reshape(b, c, h * w) for f in (self.q, self.k, self.v)]
        out = linear_attention(*flat, heads=self.heads).reshape(b, c, h, w)
        return self.skip(prev) + self.refine(out)


class GlobalIntraContext(nn.Module):
    """Global intra-slice context for the non-anchors of slice s: the correlation between the
    anchor and non-anchor positions of the previous slice (queries at its non-anchors, keys at its
    anchors) is applied to the current slice's decoded anchors (values). Output (B, 2c, H, W),
    meaningful at non-anchor positions."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.heads = _heads(ch)
        self.q, self.k, self.v = _QKV(ch, ch), _QKV(ch, ch), _QKV(ch, ch)
        self.refine = _Refine(ch, 2 * ch)

    def forward(self, prev_slice: torch.Tensor, y_anchor: torch.Tensor) -> torch.Tensor:
        b, c, h, w = y_anchor.shape
        mask = anchor_mask(h, w, y_anchor.device).flatten().bool()
        q = self.q(prev_slice).reshape(b, c, h * w)[:, :, ~mask]
        k = self.k(prev_slice).reshape(b, c, h * w)[:, :, mask]
        v = self.v(y_anchor).reshape(b, c, h * w)[:, :, mask]
        out = y_anchor.new_zeros(b, c, h * w)
        out[:, :, ~mask] = linear_attention(q, k, v, heads=self.heads)
        return self.refine(out.reshape(b, c, h, w))


class HyperGuidedContext(nn.Module):
    """MLICv2's hyperprior-guided global context (HGCP) for the first slice, which otherwise has
    no global context.

    Anchor pass (before any slice is decoded): attention from the hyper features at anchor
    positions (queries) to those at non-anchor positions (keys, values). Non-anchor pass (after
    the slice's anchors): queries at non-anchor positions, keys at anchor positions, values the
    projected decoded anchors. Each pass gives (B, 2c, H, W) through a 3x3 conv and a gate.
    """

    def __init__(self, hyper_ch: int, ch: int) -> None:
        super().__init__()
        self.heads = _heads(hyper_ch)
        self.q, self.k = _QKV(hyper_ch, hyper_ch), _QKV(hyper_ch, hyper_ch)
        self.v_anchor = conv1x1(ch, hyper_ch)
        self.out_anchor = nn.Sequential(conv3x3(hyper_ch, 2 * ch), Gate(2 * ch))
        self.out_nonanchor = nn.Sequential(conv3x3(hyper_ch, 2 * ch), Gate(2 * ch))

    def _attend(self, hyper: torch.Tensor, values: torch.Tensor, to_anchor: bool) -> torch.Tensor:
        b, c, h, w = hyper.shape
        mask = anchor_mask(h, w, hyper.device).flatten().bool()
        dst = mask if to_anchor else ~mask
        q = self.q(hyper).reshape(b, c, h * w)[:, :, dst]
        k = self.k(hyper).reshape(b, c, h * w)[:, :, ~dst]
        v = values.reshape(b, c, h * w)[:, :, ~dst]
        out = hyper.new_zeros(b, c, h * w)
        out[:, :, dst] = linear_attention(q, k, v, heads=self.heads)
        return out.reshape(b, c, h, w)

    def anchor(self, hyper: torch.Tensor) -> torch.Tensor:
        return self.out_anchor(self._attend(hyper, hyper, to_anchor=True))

    def nonanchor(self, hyper: torch.Tensor, y_anchor: torch.Tensor) -> torch.Tensor:
        return self.out_nonanchor(self._attend(hyper, self.v_anchor(y_anchor), to_anchor=False))
