"""Reading and decoding dataset files: images to uint8 RGB, labels to raw class values, every
failure a DataError naming the file."""
import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .imagefile import PNG_SIGNATURE, is_complete

__all__ = ['DataError', 'MissingFileError', 'decode_image', 'read_image', 'read_label']


class DataError(ValueError):
    """A data file is unreadable, inconsistent or holds values the dataset cannot map."""


class MissingFileError(DataError, FileNotFoundError):
    """A listed file is gone: a DataError (the trainer's bad-sample handling catches it) that
    is still a FileNotFoundError for callers that test for that."""


def _read_bytes(path):
    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except FileNotFoundError:
        raise MissingFileError(f'{path}: file not found (listed by the dataset but missing '
                               f'on disk); re-download or regenerate the dataset') from None
    if data.size == 0:
        raise DataError(f'{path}: file is empty; re-download or regenerate it')
    return data


def _decode_error(path, what):
    return DataError(f'{path}: cannot decode {what} (corrupt, truncated or not an image); '
                     f're-download or regenerate this file')


try:   # libspng decodes PNG about 1.3x faster than OpenCV's libpng (pip install pyspng)
    import pyspng as _spng
except ImportError:
    _spng = None

_RGB = getattr(cv2, 'IMREAD_COLOR_RGB', None)   # OpenCV >= 4.10: libpng/libjpeg emit RGB
_REDUCED_GREY = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
                 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
_REDUCED_BGR = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}


def _is_rgb8_png(data):
    head = data[:26].tobytes()   # signature, IHDR: ..., bit depth 8, colour type 2 (RGB)
    return head[:8] == PNG_SIGNATURE and head[24:26] == b'\x08\x02'


def decode_image(data, path, reduce=1):
    """Decode encoded bytes to uint8 HWC RGB; ``reduce`` (2, 4, 8; JPEG) decodes at 1/reduce
    of the size in the DCT domain (ceil of each side), several times faster than full size."""
    out, rgb = None, True
    try:
        if _spng is not None and reduce == 1 and _is_rgb8_png(data):
            out = _spng.load(data.tobytes(), format='RGB')   # the same pixels as cv2's
        elif _RGB is not None:   # straight to RGB: no full-frame channel swap afterwards
            flags = _RGB if reduce == 1 else _RGB | _REDUCED_GREY[reduce]
            out = cv2.imdecode(data, flags | cv2.IMREAD_IGNORE_ORIENTATION)
        else:
            flags = cv2.IMREAD_COLOR if reduce == 1 else _REDUCED_BGR[reduce]
            out, rgb = cv2.imdecode(data, flags | cv2.IMREAD_IGNORE_ORIENTATION), False
    except (cv2.error, RuntimeError, ValueError):
        out = None
    if out is None:
        raise _decode_error(path, 'image')
    if not is_complete(data):  # OpenCV 4 decodes a cut-off JPEG, greying the rest
        raise DataError(f'{path}: image file is truncated (no end marker); re-download or '
                        f'regenerate this file')
    return out if rgb else cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def read_image(path):
    """Decode an image file to uint8 HWC RGB (greyscale and 16-bit are converted).

    EXIF orientation is ignored, as PIL (the original's reader) does: label PNGs carry none,
    so turning the photo would move it off its label.
    """
    return decode_image(_read_bytes(path), path)


def read_label(path):
    """Decode a label file to a 2-D integer array of raw values.

    Palette ('P') PNGs need PIL: cv2 expands the palette to colours instead of returning
    the indices (checked on a real VOC SegmentationClass PNG).
    """
    data = _read_bytes(path)
    raw = data.tobytes()
    is_palette_png = raw[:8] == PNG_SIGNATURE and len(raw) > 25 and raw[25] == 3
    try:
        if is_palette_png:
            with Image.open(io.BytesIO(raw)) as im:
                label = np.array(im)
        else:
            label = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except (OSError, SyntaxError, ValueError, cv2.error):
        label = None
    if label is None:
        raise _decode_error(path, 'label')
    if not is_complete(raw):
        raise DataError(f'{path}: label file is truncated (no end marker); re-download or '
                        f'regenerate this file')
    if label.ndim != 2:
        raise DataError(f'{path}: label has shape {label.shape}; expected a single-channel '
                        f'(greyscale or palette) PNG of class ids, convert colour-coded labels first')
    return label
