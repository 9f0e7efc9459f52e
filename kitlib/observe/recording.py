"""``Recording``: the frames a recorder produced, their metrics, and their files.

A recording is plain data: six tidy DataFrames (``schema.FRAMES``) and a few facts
about how it was made (``info``: namespace, first and last sample time, number of
samples). It is written as one file per frame plus ``recording.json``, as CSV or
Parquet, and read back into an equal ``Recording`` (same columns, dtypes and values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kitlib.observe import metrics as _metrics
from kitlib.observe.schema import FRAMES, typed

__all__ = ["Recording"]

INFO_FILE = "recording.json"


@dataclass(frozen=True)
class Recording:
    """The frames of one recording (columns and dtypes: ``kitlib.observe.schema.FRAMES``).

    Attributes:
        pods: one row per pod per sample.
        containers: one row per container per pod per sample.
        workloads: one row per workload per sample.
        disruptions: one row per eviction attempt.
        nodes: one row per node per sample.
        pulls: one row per kubelet ``Pulled`` event with an image size (an extra frame).
        info: how the recording was made (``namespace``, ``start``, ``end``, ``samples``).
    """

    pods: pd.DataFrame
    containers: pd.DataFrame
    workloads: pd.DataFrame
    disruptions: pd.DataFrame
    nodes: pd.DataFrame
    pulls: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_frames(cls, frames: dict[str, Any], *,
                    info: dict[str, Any] | None = None) -> Recording:
        """A recording from frames or row lists keyed by frame name (missing ones empty)."""
        typed_frames = {name: typed(frames.get(name, []), columns)
                        for name, columns in FRAMES.items()}
        return cls(**typed_frames, info=dict(info or {}))

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        """The frames by name, in ``FRAMES`` order."""
        return {name: getattr(self, name) for name in FRAMES}

    def metrics(self) -> pd.DataFrame:
        """One row per workload: ``kitlib.observe.metrics`` explains each column."""
        return _metrics.metrics(self.frames)

    # -- files ---------------------------------------------------------------------------

    def to_csv(self, directory: str | Path) -> Path:
        """Write ``<frame>.csv`` files and ``recording.json`` into ``directory`` (created)."""
        return self._write(directory, "csv")

    def to_parquet(self, directory: str | Path) -> Path:
        """Write ``<frame>.parquet`` files (pyarrow) and ``recording.json`` into ``directory``."""
        return self._write(directory, "parquet")

    def _write(self, directory: str | Path, fmt: str) -> Path:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for name, frame in self.frames.items():
            if fmt == "csv":
                frame.to_csv(path / f"{name}.csv", index=False)
            else:
                frame.to_parquet(path / f"{name}.parquet", index=False)
        info = {**self.info, "format": fmt}
        (path / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> Recording:
        """Read a recording written by ``to_csv`` or ``to_parquet``.

        Raises:
            FileNotFoundError: ``directory`` has no ``recording.json`` (not a recording).
        """
        path = Path(directory)
        info_path = path / INFO_FILE
        if not info_path.exists():
            raise FileNotFoundError(f"{path} is not a recording: it has no {INFO_FILE} (write "
                                    "one with Recording.to_csv or Recording.to_parquet)")
        info = json.loads(info_path.read_text())
        fmt = info.pop("format", "csv")
        frames = {name: _read(path / f"{name}.{fmt}", columns)
                  for name, columns in FRAMES.items()}
        return cls.from_frames(frames, info=info)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(frame)}" for name, frame in self.frames.items())
        return f"<kitlib.Recording {sizes}>"


def _read(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    text = [name for name, kind in columns.items() if kind == "str"]
    return pd.read_csv(path, dtype=dict.fromkeys(text, str), keep_default_na=False,
                       na_values={name: ["", "NaN", "nan"] for name, kind in columns.items()
                                  if kind == "float"})
