"""File I/O at the edges: atomic writes, provenance stamps, logging for workflow scripts.

Library functions never touch files; the pipeline layer reads inputs with these helpers and writes
every output atomically (temporary file in the same directory, then ``os.replace``), so a failed
rule never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twintrial.exceptions import TwinTrialError

log = logging.getLogger("twintrial")

PROVENANCE_KEY = b"twintrial.provenance"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():  # mkstemp creates 0600; give the file the usual umask mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp_path.is_dir():
                import shutil

                shutil.rmtree(tmp_path)
            else:
                tmp_path.unlink()
        raise


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean_floats(obj: Any) -> Any:
    """Replace non-finite floats by ``None`` (strict JSON has no NaN/Infinity)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_floats(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean_floats(obj.tolist())
    if isinstance(obj, np.floating):
        return _clean_floats(float(obj))
    return obj


def dumps_json(data: Mapping[str, Any]) -> str:
    """Serialise ``data`` as deterministic, strict JSON (sorted keys, NaN -> null)."""
    return json.dumps(_clean_floats(data), indent=2, sort_keys=True, default=_json_default,
                      allow_nan=False) + "\n"


def write_json(data: Mapping[str, Any], path: str | os.PathLike[str], *,
               provenance: Mapping[str, Any] | None = None) -> None:
    """Write ``data`` (plus a ``provenance`` block if given) as JSON, atomically."""
    payload = dict(data)
    if provenance is not None:
        payload["provenance"] = dict(provenance)
    with atomic_path(path) as tmp:
        tmp.write_text(dumps_json(payload), encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_table(table: pd.DataFrame, path: str | os.PathLike[str], *,
                provenance: Mapping[str, Any] | None = None) -> None:
    """Write ``table`` as Parquet, atomically, with ``provenance`` in the file metadata.

    The file is byte-for-byte reproducible: no timestamps, a fixed compression and row-group size.
    """
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    if provenance is not None:
        meta[PROVENANCE_KEY] = dumps_json(provenance).encode()
    arrow = arrow.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp, compression="zstd", row_group_size=1 << 20,
                       write_statistics=True)


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table`."""
    return pq.read_table(path).to_pandas()


def read_table_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the provenance block stored in a Parquet file (empty if none)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(PROVENANCE_KEY)
    return json.loads(raw) if raw else {}


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_figure(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> None:
    """Save a matplotlib figure atomically (format from the suffix) and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png",
                    metadata={"Software": None} if str(path).endswith(".png") else None,
                    **kwargs)
    plt.close(fig)


@contextlib.contextmanager
def log_to_file(path: str | os.PathLike[str] | None) -> Iterator[logging.Logger]:
    """Send the ``twintrial`` logger (and warnings) to ``path`` and stderr for the block."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    old_level = log.level
    log.setLevel(logging.INFO)
    logging.captureWarnings(True)
    wlog = logging.getLogger("py.warnings")
    for h in handlers:
        wlog.addHandler(h)
    try:
        yield log
    finally:
        for h in handlers:
            log.removeHandler(h)
            wlog.removeHandler(h)
            h.close()
        log.setLevel(old_level)
        logging.captureWarnings(False)


def run_user_facing(func: Callable[[], Any], *, log_path: str | os.PathLike[str] | None = None) -> Any:
    """Run ``func``; on a :class:`TwinTrialError` print its lines and exit 2 (no traceback).

    Used by workflow scripts and the CLI so that user errors read as one line per problem.
    """
    try:
        with log_to_file(log_path):
            return func()
    except TwinTrialError as err:
        text = "\n".join(f"twintrial: error: {p}" for p in err.problems)
        print(text, file=sys.stderr)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        raise SystemExit(err.exit_code) from None
