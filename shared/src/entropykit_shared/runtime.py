"""Runtime basics every library needs: seeding, device resolution, a Fabric factory.

torch and lightning-fabric are imported inside the functions that need them, so that importing
``entropykit_shared`` stays cheap (command-line start-up must not pay for torch).
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from lightning_fabric import Fabric

#: What a library's ``train(..., logger=...)`` accepts: called as ``logger(step, metrics)`` with a
#: flat mapping of metric name to number. The app framework passes one that appends to
#: ``metrics.jsonl``; users can pass any callable (a print, a wandb hook, a list append).
StepCallback = Callable[[int, Mapping[str, float]], None]

DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")

# numpy's legacy global seeder accepts [0, 2**32 - 1].
_MAX_SEED = 2**32 - 1


def seed_everything(seed: int | None = None, *, deterministic: bool = False) -> int:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and all CUDA devices).

    Args:
        seed: the seed, an integer in ``[0, 2**32 - 1]``. ``None`` draws a fresh one from the
            operating system's entropy source.
        deterministic: also ask PyTorch for deterministic kernels
            (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN benchmark off).

    Returns:
        The seed actually used; record it so that the run can be repeated.

    The seed is also exported as ``PL_GLOBAL_SEED`` so that Fabric's spawned workers and data-loader
    workers derive their seeds from it. Written here rather than wrapping
    ``lightning_fabric.seed_everything`` because importing lightning-fabric costs several seconds,
    which every command would pay at start-up.
    """
    if seed is None:
        seed = secrets.randbelow(2**31)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__} {seed!r}")
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must lie in [0, {_MAX_SEED}], got {seed}; pass a smaller seed")

    import numpy as np
    import torch

    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the global generator is this function's job
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        # cuBLAS needs this for deterministic matrix products on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return seed


def _mps_available(torch_module: Any) -> bool:
    backend = getattr(torch_module.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str = "auto") -> torch.device:
    """Turn a device name into a ``torch.device``.

    ``"auto"`` picks CUDA when a GPU is visible, else Apple MPS, else the CPU. Asking for
    ``"cuda"`` or ``"mps"`` where it is not available is an error (rather than a silent CPU run).
    ``"cuda:1"`` style indices are accepted.
    """
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto' or 'cpu', got {device!r}")
    name = device.strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(
            f"unknown device {device!r}; use one of {', '.join(DEVICE_CHOICES)} (or 'cuda:N')"
        )
    import torch

    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available(torch):
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "device 'cuda' was requested but PyTorch sees no CUDA GPU on this machine; "
                "use --device cpu (or auto), or install a CUDA build of torch"
            )
        if ":" in name:
            index = int(name.split(":", 1)[1])
            if index >= torch.cuda.device_count():
                raise ValueError(
                    f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA "
                    "device(s) are visible; pick an index below that"
                )
    if kind == "mps" and not _mps_available(torch):
        raise ValueError(
            "device 'mps' was requested but Apple MPS is not available here; use --device cpu"
        )
    return torch.device(name)


@dataclass
class FabricConfig:
    """How a training loop is distributed; embed it in a library config as ``fabric``.

    Attributes:
        devices: devices per node: an int, ``"auto"``, or a comma list such as ``"0,1"``.
        strategy: ``"auto"``, ``"ddp"``, ``"fsdp"``, ``"deepspeed"``... (Lightning names).
        num_nodes: number of machines; under SLURM or ``torchrun`` the rank and world size come
            from the environment.
        precision: ``"32-true"``, ``"16-mixed"``, ``"bf16-mixed"``, ``"64-true"``...
    """

    devices: str = "1"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = "32-true"


def _parse_devices(devices: int | str | list[int]) -> int | str | list[int]:
    if isinstance(devices, str):
        text = devices.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
    return devices


def make_fabric(
    device: str = "auto",
    devices: int | str | list[int] = 1,
    strategy: str = "auto",
    num_nodes: int = 1,
    precision: str = "32-true",
    *,
    launch: bool = True,
    **kwargs: Any,
) -> Fabric:
    """Build (and by default launch) a Lightning ``Fabric``.

    Args:
        device: ``"auto" | "cpu" | "cuda" | "mps"``, resolved with :func:`resolve_device` and
            used as Fabric's accelerator.
        devices, strategy, num_nodes, precision: passed to ``Fabric`` (see :class:`FabricConfig`).
        launch: call ``fabric.launch()``, which sets up the process group when the script runs
            under ``torchrun`` or SLURM; a no-op for a single process.
        kwargs: any other ``Fabric`` argument (``loggers``, ``plugins``...).

    A loop written as ``model, opt = fabric.setup(model, opt)``, ``fabric.backward(loss)`` then runs
    unchanged on a CPU, one GPU, or several GPUs and nodes; end it with :func:`finish_fabric`.
    """
    from lightning_fabric import Fabric

    accelerator = resolve_device(device).type
    fabric = Fabric(
        accelerator=accelerator,
        devices=_parse_devices(devices),
        strategy=strategy,
        num_nodes=num_nodes,
        precision=precision,
        **kwargs,
    )
    if launch:
        fabric.launch()
    return fabric


def finish_fabric(fabric: Fabric) -> None:
    """End a (possibly distributed) run cleanly: wait for every process, then tear down the
    process group. Call it once at the end of a training loop; a no-op for a single process.

    Known limit (torch 2.15, gloo backend on CPU): even after this, the interpreter's own shutdown
    sometimes aborts ("terminate called without an active exception", exit code 134) after the
    work is done: 5 of 36 two-process runs on this project's CPU machine. A script launched with
    ``torchrun`` on CPUs can end with ``os._exit(0)`` after this call to avoid it.
    """
    import torch.distributed as dist

    if fabric.world_size > 1:
        fabric.barrier()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def fabric_from_config(device: str, config: FabricConfig, **kwargs: Any) -> Fabric:
    """:func:`make_fabric` with the fields of a :class:`FabricConfig`."""
    return make_fabric(
        device=device,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=config.precision,
        **kwargs,
    )
