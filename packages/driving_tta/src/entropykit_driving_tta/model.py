"""Hydra-lite: a Hydra-MDP-style trajectory-scoring planner sized for a CPU.

Scene encoder (object tokens plus an ego-status token, self-attention), a vocabulary decoder
(each vocabulary entry, subsampled to its eight 2-Hz poses, is embedded by an MLP and attends to
the scene tokens through a Transformer decoder; the status embedding is added to every query),
then one head per target: the imitation logit and one logit per NAVSIM sub-score. Planning picks
the entry with the highest log-linear score

    s_i = w_imi log softmax(imi)_i + w_nc log sig(NC_i) + w_dac log sig(DAC_i)
          + log(5 sig(TTC_i) + 5 sig(EP_i) + 2 sig(C_i)),

the NAVSIM-v1 form of Hydra-MDP (weights configurable).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from entropykit_driving_tta.features import AGENT_FEATURES, METRIC_HEADS, N_AGENTS, STATUS_DIM

HEADS = ("imi", *METRIC_HEADS)


@dataclass
class ModelConfig:
    """Hydra-lite sizes (spec defaults: d = 128, 4 heads, 2 + 2 layers, ffn 512, dropout 0)."""

    d_model: int = 128
    n_heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    ffn: int = 512
    vocab_hidden: int = 256
    head_hidden: int = 256
    dropout: float = 0.0


@dataclass
class ScoreWeights:
    """Inference score weights (see the module docstring)."""

    imi: float = 0.1
    nc: float = 1.0
    dac: float = 1.0
    aggregate: dict[str, float] = field(
        default_factory=lambda: {"ttc": 5.0, "ep": 5.0, "comfort": 2.0}
    )


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


class HydraLite(nn.Module):
    """Scores every vocabulary entry for a batch of scenes.

    Args:
        vocab_poses: (K, 8, 3) the vocabulary at 2 Hz (x, y, heading, ego frame).
        cfg: sizes.
    """

    def __init__(self, vocab_poses: torch.Tensor, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or ModelConfig()
        d = self.cfg.d_model
        v = torch.as_tensor(vocab_poses, dtype=torch.float32)
        if v.ndim != 3 or v.shape[-1] != 3:
            raise ValueError(f"vocab_poses must be (K, T, 3), got {tuple(v.shape)}")
        # Scale x by 50 m, y by 10 m, heading by 1 rad: comparable ranges for the MLP.
        scale = torch.tensor([50.0, 10.0, 1.0])
        self.register_buffer("vocab", (v / scale).reshape(v.shape[0], -1), persistent=False)
        self.agent_in = nn.Linear(len(AGENT_FEATURES), d)
        self.status_in = nn.Linear(STATUS_DIM, d)
        self.status_query = nn.Linear(STATUS_DIM, d)
        self.token_type = nn.Parameter(torch.zeros(2, d))
        enc = nn.TransformerEncoderLayer(
            d, self.cfg.n_heads, self.cfg.ffn, self.cfg.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            enc, self.cfg.encoder_layers, enable_nested_tensor=False
        )
        self.vocab_embed = _mlp(self.vocab.shape[1], self.cfg.vocab_hidden, d)
        dec = nn.TransformerDecoderLayer(
            d, self.cfg.n_heads, self.cfg.ffn, self.cfg.dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(dec, self.cfg.decoder_layers)
        self.norm = nn.LayerNorm(d)
        self.heads = nn.ModuleDict({h: _mlp(d, self.cfg.head_hidden, 1) for h in HEADS})

    @property
    def vocab_size(self) -> int:
        return int(self.vocab.shape[0])

    def forward(self, agents: torch.Tensor, status: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits (B, K) per head from agents (B, 16, 9) and status (B, 14)."""
        if agents.ndim != 3 or agents.shape[1:] != (N_AGENTS, len(AGENT_FEATURES)):
            raise ValueError(
                f"agents must be (B, {N_AGENTS}, {len(AGENT_FEATURES)}), got {tuple(agents.shape)}"
            )
        if status.ndim != 2 or status.shape[1] != STATUS_DIM:
            raise ValueError(f"status must be (B, {STATUS_DIM}), got {tuple(status.shape)}")
        b = agents.shape[0]
        tok = self.agent_in(agents) + self.token_type[0]
        ego = (self.status_in(status) + self.token_type[1])[:, None]
        tokens = torch.cat([ego, tok], dim=1)
        pad = torch.cat(
            [torch.zeros(b, 1, dtype=torch.bool, device=agents.device), agents[..., 0] <= 0], 1
        )
        memory = self.encoder(tokens, src_key_padding_mask=pad)
        queries = self.vocab_embed(self.vocab)[None].expand(b, -1, -1)
        queries = queries + self.status_query(status)[:, None]
        out = self.norm(self.decoder(queries, memory, memory_key_padding_mask=pad))
        return {h: head(out).squeeze(-1) for h, head in self.heads.items()}

    def config_dict(self) -> dict:
        return asdict(self.cfg)


def planning_score(logits: dict[str, torch.Tensor], w: ScoreWeights | None = None) -> torch.Tensor:
    """The log-linear inference score (B, K) from the heads' logits."""
    w = w or ScoreWeights()
    agg = sum(c * torch.sigmoid(logits[m]) for m, c in w.aggregate.items())
    return (
        w.imi * F.log_softmax(logits["imi"], dim=-1)
        + w.nc * F.logsigmoid(logits["nc"])
        + w.dac * F.logsigmoid(logits["dac"])
        + torch.log(agg + 1e-6)
    )


@dataclass
class LossWeights:
    """Hydra-MDP's loss weights for the NAVSIM-v1 targets (imitation 1, NC 3, DAC 3, TTC 2,
    EP 1, comfort 1) and the imitation temperature sigma = 0.5."""

    imi: float = 1.0
    nc: float = 3.0
    dac: float = 3.0
    ttc: float = 2.0
    ep: float = 1.0
    comfort: float = 1.0
    sigma: float = 0.5


def hydra_loss(
    logits: dict[str, torch.Tensor],
    expert: torch.Tensor,
    teacher: torch.Tensor,
    vocab8: torch.Tensor,
    w: LossWeights | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Imitation cross-entropy against softmax(-d_i / sigma) plus weighted BCE per sub-score.

    Args:
        logits: the model's output.
        expert: (B, 8, 3) expert poses at 2 Hz; the distance d_i sums squared x, y and heading
            differences over the eight poses (heading in radians, as in Hydra-MDP).
        teacher: (B, K, 5) teacher NC, DAC, TTC, EP, comfort; NC 0.5 counts as 0.
        vocab8: (K, 8, 3) the vocabulary at 2 Hz.
    """
    w = w or LossWeights()
    d = ((vocab8[None] - expert[:, None]) ** 2).sum(dim=(-1, -2))  # (B, K)
    target = torch.softmax(-d / w.sigma, dim=-1)
    imi = -(target * F.log_softmax(logits["imi"], dim=-1)).sum(-1).mean()
    parts = {"imi": imi}
    total = w.imi * imi
    for j, m in enumerate(METRIC_HEADS):
        y = teacher[..., j]
        if m == "nc":
            y = (y >= 1.0).to(y.dtype)  # NAVSIM's three-to-two rule: 0.5 -> 0
        bce = F.binary_cross_entropy_with_logits(logits[m], y)
        parts[m] = bce
        total = total + getattr(w, m) * bce
    return total, {k: float(v.detach()) for k, v in parts.items()}
