"""Reader (and writer) of the IDX files that MNIST ships in, gzipped or not.

IDX: a big-endian int32 magic ``0x0000TTDD`` (``TT`` = 0x08 for unsigned bytes,
``DD`` = number of dimensions), one big-endian int32 per dimension, then the
data. MNIST images have magic 2051 (uint8, 3-D) and labels 2049 (uint8, 1-D).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "find_idx", "read_idx", "write_idx"]

#: Magic number of an IDX file of uint8 images ``[n, rows, cols]``.
IMAGES_MAGIC = 2051
#: Magic number of an IDX file of uint8 labels ``[n]``.
LABELS_MAGIC = 2049

_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def find_idx(data_dir: str | Path, stem: str) -> Path:
    """Path of the IDX file ``stem`` in ``data_dir``: ``stem`` itself, else ``stem.gz``.

    The uncompressed file wins when both exist, as it is the faster to read.

    Raises
    ------
    FileNotFoundError
        If neither exists; the message names both full paths tried.
    """
    plain = Path(data_dir) / stem
    packed = plain.with_name(stem + ".gz")
    for path in (plain, packed):
        if path.is_file():
            return path
    raise FileNotFoundError(f"IDX file not found: expected {plain} or {packed}")


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read a uint8 IDX file, gzipped or not, checking its magic number and sizes.

    Compression is recognised from the file's first bytes, not its name.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    magic : int
        The magic number the file must have (:data:`IMAGES_MAGIC` or :data:`LABELS_MAGIC`).

    Returns
    -------
    numpy.ndarray
        uint8 array with the dimensions of the header.

    Raises
    ------
    ValueError
        If the file is not a valid IDX file of that magic; the message names the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: corrupt gzip data ({err})") from err
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{path}: wrong IDX magic number {found}, expected {magic}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header, {len(raw)} of {header} bytes")
    dims = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: header dimensions {dims} need {expected} data bytes, "
            f"file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def write_idx(path: str | Path, data: np.ndarray) -> Path:
    """Write a uint8 array as an IDX file, gzipped if ``path`` ends in ``.gz``.

    For synthetic test data; the magic is ``0x0800 + data.ndim`` (2051 for
    ``[n, rows, cols]``, 2049 for ``[n]``).

    Raises
    ------
    ValueError
        If ``data`` is not uint8 or has no dimension.
    """
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim == 0:
        raise ValueError(
            f"write_idx needs a uint8 array of at least 1 dimension, got {data.dtype} {data.shape}"
        )
    header = ((_UBYTE << 8) | data.ndim).to_bytes(4, "big")
    header += b"".join(int(d).to_bytes(4, "big") for d in data.shape)
    raw = header + data.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path
