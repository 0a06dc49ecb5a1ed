"""Inputs for ``predict``: one image, a folder (recursive), a glob, a list file or a video;
decoding user photos; atomic writes of images and videos.

Photos are decoded with their EXIF orientation applied (OpenCV's default), unlike the
datasets, which ignore it to stay aligned with their label files: a user's photo is predicted
the way every viewer shows it, and the mask and overlay written for it are in that same
orientation (they carry no EXIF tag, so they display aligned with the photo).
"""
from __future__ import annotations

import glob
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePath

import cv2
import numpy as np

from ..data import DataError

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "LIST_EXTS", "Item", "collect_inputs", "read_rgb",
           "write_atomic", "VideoOut"]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm",
              ".jp2"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".m4v"}
LIST_EXTS = {".txt", ".lst"}


@dataclass(frozen=True)
class Item:
    path: Path          # where to read it
    rel: PurePath       # where its outputs go, relative to the output folder
    kind: str           # "image" or "video"


def _kind(path: Path) -> str | None:
    ext = path.suffix.lower()
    return "image" if ext in IMAGE_EXTS else "video" if ext in VIDEO_EXTS else None


def _relative_to_common(paths: list[Path]) -> list[PurePath]:
    """Paths relative to their deepest common folder (so outputs mirror the input tree)."""
    absolute = [p.resolve() for p in paths]
    base = Path(os.path.commonpath([p.parent for p in absolute])) if absolute else Path()
    return [p.relative_to(base) for p in absolute]


def collect_inputs(spec) -> tuple[list[Item], list[tuple[str, str]]]:
    """(items to predict, [(path, why it is skipped)]) for an ``--input`` value.

    A folder is walked recursively (files that are neither images nor videos are skipped with a
    reason); a ``.txt``/``.lst`` file lists one image per line (first field; relative to the
    list's folder, so a dataset split file works); anything with ``* ? [`` that is not a file
    is a glob (``**`` recursive)."""
    spec = str(spec)
    path = Path(spec).expanduser()
    skipped: list[tuple[str, str]] = []
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        candidates = [(p, p.relative_to(path)) for p in files]
    elif path.is_file() and path.suffix.lower() in LIST_EXTS:
        listed = []
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            entry = Path(fields[0]).expanduser()
            entry = entry if entry.is_absolute() else path.parent / entry
            if entry.is_file():
                listed.append(entry)
            else:
                skipped.append((str(entry), f"listed in {path}:{number} but not found"))
        candidates = list(zip(listed, _relative_to_common(listed)))
    elif path.is_file():
        candidates = [(path, PurePath(path.name))]
    elif glob.has_magic(spec):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(spec), recursive=True)
                         if Path(p).is_file())
        candidates = list(zip(matches, _relative_to_common(matches)))
    else:
        raise FileNotFoundError(f"--input {spec!r}: no such file or folder (give an image, a "
                                f"folder, a glob such as 'photos/*.jpg', a .txt list or a video)")
    items = []
    for file, rel in candidates:
        kind = _kind(file)
        if kind is None:
            why = f"not an image or video (extension {file.suffix or 'none'!r})"
            skipped.append((str(file), why))
        else:
            items.append(Item(file, PurePath(rel), kind))
    return items, skipped


def read_rgb(path) -> np.ndarray:
    """HxWx3 uint8 RGB with EXIF orientation applied; DataError naming the file otherwise."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise DataError(f"{path}: cannot decode as an image (corrupt, truncated or another "
                         f"format)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_atomic(path: Path, save) -> None:
    """Call ``save(temp_path)`` for a temp file beside ``path``, then rename it into place: a
    crash or an error never leaves a partly written file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}",
                               dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class VideoOut:
    """An overlay video written to a temp file and renamed on ``close(ok=True)``."""

    _FOURCC = {".avi": "MJPG"}

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}",
                                        dir=path.parent)
        os.close(fd)
        fourcc = cv2.VideoWriter_fourcc(*self._FOURCC.get(path.suffix.lower(), "mp4v"))
        self.writer = cv2.VideoWriter(self.tmp, fourcc, fps, size)
        if not self.writer.isOpened():
            self.close(ok=False)
            raise DataError(f"{path}: OpenCV cannot write this video format")

    def write(self, rgb: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self, ok: bool) -> None:
        self.writer.release()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            Path(self.tmp).unlink(missing_ok=True)
