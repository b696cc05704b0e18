"""Centaur: one cluster-entropy gradient step on recent frames before each decision.

At decision time t the planner scores the vocabulary for each buffered observation of the
last B decisions of the same episode, the loss is their mean Cluster Entropy (entropy of the
softmax of the planning score, summed within the vocabulary's behaviour clusters;
``entropykit_shared.cluster_entropy``), and exactly one plain SGD step (no optimiser state,
gradient norm clipped) is taken on a chosen parameter subset before planning at t. By
default the parameters go back to their trained values before every decision ("sole gradient
update").

The paper leaves several choices open; each is a field of :class:`TTTConfig` (defaults are
ours, chosen on validation seeds, never on test seeds): which parameters move, the learning
rate, the buffer size, the softmax temperature, whether the current frame is in the buffer,
and reset versus accumulate. The controls of the benchmark are variants of the same step:
``full_entropy`` (entropy over all K entries, no clusters), ``tent`` (only LayerNorm affine
parameters move), ``placebo`` (a random direction with the norm of the Centaur step).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from entropykit_driving_tta.features import METRIC_HEADS
from entropykit_driving_tta.model import HydraLite, ScoreWeights, planning_score
from entropykit_driving_tta.vocab import Vocabulary
from entropykit_shared import cluster_entropy

METHODS = ("none", "centaur", "full_entropy", "tent", "placebo")
PARAM_SETS = ("decoder_heads", "heads", "all", "norm")


@dataclass
class TTTConfig:
    """Test-time training settings.

    Attributes:
        method: ``none`` (base planner), ``centaur``, ``full_entropy``, ``tent`` or
            ``placebo``.
        lr: SGD step size (eta).
        buffer: number of prior decisions whose observations form the batch (B).
        params: which parameters move: ``decoder_heads`` (vocabulary embedding, decoder and
            heads; the scene encoder stays frozen), ``heads``, ``all`` or ``norm`` (LayerNorm
            affine only; ``tent`` always uses ``norm``).
        tau: softmax temperature of the cluster probabilities.
        include_current: also put the current observation in the batch.
        accumulate: keep the updated weights across decisions of an episode (reset at the
            episode start) instead of resetting before every decision; ablation only.
        grad_clip: maximum gradient norm.
        fallback: rule-based fallback layer: when sig(NC) * sig(TTC) of the chosen entry is
            below ``fallback_threshold``, take the vocabulary's hardest-braking straight entry.
    """

    method: str = "centaur"
    lr: float = 1e-3
    buffer: int = 4
    params: str = "decoder_heads"
    tau: float = 1.0
    include_current: bool = False
    accumulate: bool = False
    grad_clip: float = 1.0
    fallback: bool = False
    fallback_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.params not in PARAM_SETS:
            raise ValueError(f"params must be one of {PARAM_SETS}, got {self.params!r}")
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number >= 0, got {self.lr}")
        if self.buffer < 0:
            raise ValueError(f"buffer must be >= 0, got {self.buffer}")
        if not self.tau > 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise ValueError(f"grad_clip must be a finite number > 0, got {self.grad_clip}")


def select_parameters(model: HydraLite, which: str) -> list[tuple[str, torch.nn.Parameter]]:
    """The named parameters a TTT step may change."""
    named = list(model.named_parameters())
    if which == "all":
        return named
    if which == "heads":
        return [(n, p) for n, p in named if n.startswith("heads.")]
    if which == "decoder_heads":
        keep = ("vocab_embed.", "decoder.", "norm.", "heads.", "status_query.")
        return [(n, p) for n, p in named if n.startswith(keep)]
    if which == "norm":
        norms = {
            f"{mn}.{pn}" if mn else pn
            for mn, m in model.named_modules()
            if isinstance(m, torch.nn.LayerNorm)
            for pn, _ in m.named_parameters(recurse=False)
        }
        return [(n, p) for n, p in named if n in norms]
    raise ValueError(f"params must be one of {PARAM_SETS}, got {which!r}")


def brake_entry(vocab: Vocabulary) -> int:
    """The fallback entry: the least 4-s progress among entries that keep their lane."""
    keep = np.abs(vocab.poses[:, -1, 1]) <= 2.0
    idx = np.nonzero(keep)[0] if keep.any() else np.arange(vocab.size)
    return int(idx[np.argmin(vocab.poses[idx, -1, 0])])


class Planner:
    """A trained Hydra-lite with (optional) Centaur test-time training.

    Call :meth:`reset` at the start of every episode, then :meth:`plan` once per decision
    with the current observation; the planner keeps the buffer of prior observations itself.
    """

    def __init__(
        self,
        model: HydraLite,
        vocab: Vocabulary,
        cfg: TTTConfig | None = None,
        weights: ScoreWeights | None = None,
        seed: int = 0,
    ) -> None:
        if model.vocab_size != vocab.size:
            raise ValueError(
                f"the model scores {model.vocab_size} entries but the vocabulary has {vocab.size}"
            )
        self.model = model.eval()
        self.vocab = vocab
        self.cfg = cfg or TTTConfig()
        self.weights = weights or ScoreWeights()
        which = "norm" if self.cfg.method == "tent" else self.cfg.params
        self._params = select_parameters(model, which)
        for p in model.parameters():
            p.requires_grad_(False)
        for _, p in self._params:
            p.requires_grad_(True)
        self._theta0 = [p.detach().clone() for _, p in self._params]
        ids = vocab.clusters if self.cfg.method != "full_entropy" else np.arange(vocab.size)
        self._cluster_ids = torch.as_tensor(ids, dtype=torch.long)
        self._brake = brake_entry(vocab)
        self._gen = torch.Generator().manual_seed(int(seed))
        self._buffer: deque[tuple[torch.Tensor, torch.Tensor]] = deque(
            maxlen=max(self.cfg.buffer, 1)
        )
        self.n_updates = 0
        self.n_skipped = 0

    # -- state ------------------------------------------------------------------------------
    def restore(self) -> None:
        """Put the trainable parameters back to their trained values (bitwise)."""
        with torch.no_grad():
            for (_, p), p0 in zip(self._params, self._theta0, strict=True):
                p.copy_(p0)

    def reset(self) -> None:
        """Start a new episode: empty buffer, trained weights."""
        self._buffer.clear()
        self.restore()

    @property
    def trainable_names(self) -> list[str]:
        return [n for n, _ in self._params]

    def observe(self, agents: np.ndarray, status: np.ndarray) -> None:
        """Add an observation to the buffer without planning (history frames)."""
        if self.cfg.buffer > 0:
            self._buffer.append(
                (
                    torch.as_tensor(agents, dtype=torch.float32)[None],
                    torch.as_tensor(status, dtype=torch.float32)[None],
                )
            )

    # -- scoring ----------------------------------------------------------------------------
    def scores(self, agents: torch.Tensor, status: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.model(agents, status)
        return {"score": planning_score(logits, self.weights), **logits}

    def entropy(self, score: torch.Tensor) -> torch.Tensor:
        """Cluster Entropy (nats) of each row of planning scores (B, K)."""
        return cluster_entropy(score, self._cluster_ids, tau=self.cfg.tau)

    # -- the update -------------------------------------------------------------------------
    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
        """One SGD step on the buffered batch; returns what happened."""
        params = [p for _, p in self._params]
        for p in params:
            p.grad = None
        with torch.enable_grad():
            h = self.entropy(self.scores(*batch)["score"]).mean()
            if not torch.isfinite(h):
                self.n_skipped += 1
                return {"updated": False, "skipped": "non-finite loss", "h_buffer": float(h)}
            grads = torch.autograd.grad(h, params, allow_unused=True)
        grads = [
            torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)
        ]
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
        if not torch.isfinite(norm):
            self.n_skipped += 1
            return {"updated": False, "skipped": "non-finite gradient", "h_buffer": float(h)}
        scale = min(1.0, self.cfg.grad_clip / (float(norm) + 1e-12))
        steps = [self.cfg.lr * scale * g for g in grads]
        if self.cfg.method == "placebo":
            step_norm = math.sqrt(sum(float((s.double() ** 2).sum()) for s in steps))
            rand = [torch.randn(s.shape, generator=self._gen, dtype=s.dtype) for s in steps]
            r_norm = math.sqrt(sum(float((r.double() ** 2).sum()) for r in rand))
            steps = [r * (step_norm / max(r_norm, 1e-12)) for r in rand]
        with torch.no_grad():
            for p, s in zip(params, steps, strict=True):
                p.sub_(s)
        self.n_updates += 1
        delta = math.sqrt(sum(float((s.double() ** 2).sum()) for s in steps))
        return {"updated": True, "h_buffer": float(h), "grad_norm": float(norm), "step_norm": delta}

    @torch.no_grad()
    def plan(self, agents: np.ndarray, status: np.ndarray) -> tuple[int, dict[str, Any]]:
        """Choose a vocabulary entry for one observation (agents (16, 9), status (14,)).

        Returns the entry index and a record: cluster entropy before and after the update,
        whether an update happened, the step norm, whether the choice changed, the fallback.
        """
        a = torch.as_tensor(agents, dtype=torch.float32)[None]
        s = torch.as_tensor(status, dtype=torch.float32)[None]
        if not self.cfg.accumulate:
            self.restore()
        base = self.scores(a, s)
        h0 = float(self.entropy(base["score"])[0])
        base_choice = int(base["score"][0].argmax())
        p = torch.softmax(base["score"][0] / self.cfg.tau, dim=-1)
        heads = torch.stack([torch.sigmoid(base[m][0, base_choice]) for m in METRIC_HEADS])
        info: dict[str, Any] = {
            "h_before": h0,
            "h_full": float(-(p * torch.log(p + 1e-12)).sum()),
            "one_minus_max_p": float(1 - p.max()),
            "head_var": float(heads.var()),
            "updated": False,
            "base_choice": base_choice,
        }
        batch = list(self._buffer)
        if self.cfg.include_current:
            batch.append((a, s))
        if self.cfg.method != "none" and batch:
            info.update(
                self._step((torch.cat([b[0] for b in batch]), torch.cat([b[1] for b in batch])))
            )
        out = self.scores(a, s) if info["updated"] else base
        choice = int(out["score"][0].argmax())
        info["h_after"] = float(self.entropy(out["score"])[0])
        info["changed"] = choice != base_choice
        if self.cfg.fallback:
            risk = torch.sigmoid(out["nc"][0, choice]) * torch.sigmoid(out["ttc"][0, choice])
            info["fallback"] = bool(risk < self.cfg.fallback_threshold)
            if info["fallback"]:
                choice = self._brake
        if self.cfg.buffer > 0:
            self._buffer.append((a, s))
        info["choice"] = choice
        return choice, info
