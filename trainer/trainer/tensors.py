"""Reading checkpoint files (ours, the authors', pretrained backbones) without running their code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_tensors(path: str | Path) -> Any:
    """``torch.load`` on the CPU for files that should hold only tensors and plain containers.

    On PyTorch 2.x only those are unpickled (``weights_only``): a checkpoint from elsewhere cannot
    run code when it is read. PyTorch 1.13's weights-only reader cannot read ordinary checkpoints
    (it stops at a persistent-id opcode), so there the full unpickler is used, as before.
    """
    if int(torch.__version__.split(".")[0]) >= 2:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    return torch.load(str(path), map_location="cpu")
