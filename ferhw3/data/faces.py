"""What every reader returns: faces, with their labels or their ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Faces:
    """Faces read from one CSV: `x` is uint8 (N, 48, 48, 1); exactly one of
    `labels` (int64 0-6, training files) and `ids` (int64, test files) is set."""

    x: np.ndarray
    labels: np.ndarray | None = None
    ids: np.ndarray | None = None
    path: str = ""
    names: list[str] | None = None  # file names, for faces read from image files

    @property
    def kind(self) -> str:
        return "train" if self.labels is not None else "test"

    def __len__(self) -> int:
        return len(self.x)
