"""Reading and decoding dataset files: images to uint8 RGB, labels to raw class values, every
failure a DataError naming the file."""
import ctypes
import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .imagefile import PNG_SIGNATURE, is_complete, png_state

__all__ = ['DataError', 'MissingFileError', 'decode_image', 'read_image', 'read_label',
           'decode_label', 'png_header', 'decode_png_rows']


class DataError(ValueError):
    """A data file is unreadable, inconsistent or holds values the dataset cannot map."""


class MissingFileError(DataError, FileNotFoundError):
    """A listed file is gone: a DataError (the trainer's bad-sample handling catches it) that
    is still a FileNotFoundError for callers that test for that."""


def _read_bytes(path):
    path = Path(path)
    try:   # a view of the bytes object: decoders that take bytes get it without a copy
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except FileNotFoundError:
        raise MissingFileError(f'{path}: file not found (listed by the dataset but missing '
                               f'on disk); re-download or regenerate the dataset') from None
    if data.size == 0:
        raise DataError(f'{path}: file is empty; re-download or regenerate it')
    return data


def _as_bytes(data):
    """The bytes under a uint8 array (no copy when it views a bytes object)."""
    base = data.base
    if (isinstance(base, bytes) and len(base) == data.nbytes
            and np.frombuffer(base, np.uint8).ctypes.data == data.ctypes.data):
        return base
    return data.tobytes()


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


def png_header(data):
    """(height, width, channels) of a non-interlaced 8-bit greyscale (1) or RGB (3) PNG from
    its IHDR, else None (other PNG kinds, other formats)."""
    head = bytes(data[:29])
    if len(head) < 29 or head[:8] != PNG_SIGNATURE or head[12:16] != b'IHDR':
        return None
    channels = {0: 1, 2: 3}.get(head[25])
    if head[24] != 8 or channels is None or head[28] != 0:
        return None
    return int.from_bytes(head[20:24], 'big'), int.from_bytes(head[16:20], 'big'), channels


class _Ihdr(ctypes.Structure):
    _fields_ = [('width', ctypes.c_uint32), ('height', ctypes.c_uint32),
                ('bit_depth', ctypes.c_uint8), ('color_type', ctypes.c_uint8),
                ('compression_method', ctypes.c_uint8), ('filter_method', ctypes.c_uint8),
                ('interlace_method', ctypes.c_uint8)]


_SPNG_FMT_PNG = 256   # the file's own layout (8-bit grey / RGB): no per-row conversion
_SPNG_PROGRESSIVE, _SPNG_CRC_USE, _SPNG_EOI = 256, 2, 75
_spng_c = None   # libspng's C API (ctypes), loaded on first use; False when unavailable


def _libspng():
    """libspng's row-by-row decoder, which the pyspng extension module exports (pyspng's own
    Python API only decodes whole images). False without pyspng or those symbols."""
    global _spng_c
    if _spng_c is None:
        _spng_c = False
        try:
            from pyspng import _pyspng_c
            lib = ctypes.CDLL(_pyspng_c.__file__)
            vp, size = ctypes.c_void_p, ctypes.c_size_t
            lib.spng_ctx_new.restype = vp
            lib.spng_ctx_new.argtypes = [ctypes.c_int]
            lib.spng_ctx_free.argtypes = [vp]
            lib.spng_set_crc_action.argtypes = [vp, ctypes.c_int, ctypes.c_int]
            lib.spng_set_png_buffer.argtypes = [vp, vp, size]
            lib.spng_get_ihdr.argtypes = [vp, ctypes.POINTER(_Ihdr)]
            lib.spng_decode_image.argtypes = [vp, vp, size, ctypes.c_int, ctypes.c_int]
            lib.spng_decode_row.argtypes = [vp, vp, size]
            _spng_c = lib
        except (ImportError, OSError, AttributeError):
            pass
    return _spng_c


def decode_png_rows(data, path, rows, what='image'):
    """The first ``rows`` rows of an 8-bit greyscale / RGB non-interlaced PNG, decoded into a
    zero-filled full-size array (H x W or H x W x 3, uint8, RGB); the rows below are not
    decoded (zlib streams stop where asked: the cost is the rows decoded). None when this
    file or this install cannot (then decode the whole file as usual). Same pixels as a full
    decode for the rows it returns (pyspng's libspng; every chunk's CRC checked first)."""
    header, lib = png_header(data), _libspng()
    if header is None or not lib:
        return None
    h, w, channels = header
    buf = _as_bytes(data)
    state = png_state(buf)   # libspng runs without CRCs here, as pyspng.load: check them
    if state != 'ok':
        raise DataError(f'{path}: {what} file is {state} ('
                        + ('no end marker' if state == 'truncated' else 'a PNG chunk fails its '
                           'CRC check') + '); re-download or regenerate this file')
    out = np.zeros((h, w, channels) if channels == 3 else (h, w), np.uint8)
    ctx = lib.spng_ctx_new(0)
    if not ctx:
        return None
    try:
        lib.spng_set_crc_action(ctx, _SPNG_CRC_USE, _SPNG_CRC_USE)
        lib.spng_set_png_buffer(ctx, buf, len(buf))
        ihdr = _Ihdr()
        if lib.spng_get_ihdr(ctx, ctypes.byref(ihdr)) != 0 or (ihdr.height, ihdr.width) != (h, w):
            raise _decode_error(path, what)
        if lib.spng_decode_image(ctx, None, 0, _SPNG_FMT_PNG, _SPNG_PROGRESSIVE):
            raise _decode_error(path, what)
        stride, base = w * channels, out.ctypes.data
        for y in range(min(int(rows), h)):
            code = lib.spng_decode_row(ctx, base + y * stride, stride)
            if code not in (0, _SPNG_EOI):
                raise _decode_error(path, what)
    finally:
        lib.spng_ctx_free(ctx)
    return out


def decode_image(data, path, reduce=1):
    """Decode encoded bytes to uint8 HWC RGB; ``reduce`` (2, 4, 8; JPEG) decodes at 1/reduce
    of the size in the DCT domain (ceil of each side), several times faster than full size."""
    out, rgb = None, True
    try:
        if _spng is not None and reduce == 1 and _is_rgb8_png(data):
            out = _spng.load(_as_bytes(data), format='RGB')   # the same pixels as cv2's
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
    return decode_label(_read_bytes(path), path)


def decode_label(data, path):
    """``read_label`` of the file's bytes (a uint8 array)."""
    raw = _as_bytes(data)
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
