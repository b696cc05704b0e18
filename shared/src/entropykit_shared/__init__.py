"""entropykit-shared: the package every entropykit domain imports.

Runtime basics (seeding, devices, Fabric) live in :mod:`entropykit_shared.runtime`, the
run-directory schema in :mod:`entropykit_shared.rundir`, and test contracts in
:mod:`entropykit_shared.testing` (imported on demand: it needs pytest). Importing this package
does not import torch.
"""

from importlib.metadata import PackageNotFoundError, version

from entropykit_shared.runtime import (
    DEVICE_CHOICES,
    FabricConfig,
    StepCallback,
    fabric_from_config,
    make_fabric,
    resolve_device,
    seed_everything,
)

try:
    __version__ = version("entropykit-shared")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "DEVICE_CHOICES",
    "FabricConfig",
    "StepCallback",
    "__version__",
    "fabric_from_config",
    "make_fabric",
    "resolve_device",
    "seed_everything",
]
