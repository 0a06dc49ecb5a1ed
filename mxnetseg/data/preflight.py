"""Pre-flight pass: read the header and the last bytes of every listed file before training,
so most bad data fails in seconds instead of when the sampler reaches it hours in.

Per (image, label) pair it checks, without decoding any pixels: both files exist and are not
empty; the header parses (PIL reads sizes lazily); a JPEG/PNG ends with its end marker (a
cut-off download); the label has one channel; the label's size equals the image's.
Label VALUES need the pixels, so a value outside the class ids is still found when the
sample is read (a DataError naming the file) or up front by ``python -m mxnetseg data check``.
"""
import os
import shlex
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from .base import DataError, SegmentationDataset
from .imagefile import ends_cleanly, image_kind, is_complete

__all__ = ['preflight', 'preflight_problems']

_TAIL = 64  # bytes read from the end of each file for the end-marker check
_HEADER_FORMATS = {'.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp'}


def _header(path, what):
    """(size WxH, bands, problem or None) of one file from its header and last bytes."""
    path = Path(path)
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
            if not head:
                return None, None, f'{path}: {what} file is empty'
            f.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', Image.DecompressionBombWarning)
                try:
                    im = Image.open(f)
                    size, bands = im.size, len(im.getbands())
                except Image.DecompressionBombError:  # huge but not broken: no size check
                    size = bands = None
            kind = image_kind(head)
            if kind is not None:
                f.seek(max(0, os.fstat(f.fileno()).st_size - _TAIL))
                if not ends_cleanly(kind, f.read()):
                    f.seek(0)  # rare (bytes after the end marker): walk the whole file
                    if not is_complete(f.read()):
                        return size, bands, (f'{path}: {what} file is truncated (no {kind.upper()} '
                                             f'end marker)')
    except FileNotFoundError:
        return None, None, f'{path}: {what} file is listed but missing'
    except (OSError, SyntaxError, ValueError) as err:  # PIL: UnidentifiedImageError is OSError
        return None, None, f'{path}: cannot read the {what} header ({type(err).__name__}: {err})'
    return size, bands, None


def _check_pair(img, lbl, plain_labels):
    problems = []
    img_size, _, problem = _header(img, 'image')
    if problem:
        problems.append(problem)
    if lbl is None or Path(lbl) == Path(img):  # MSCOCO draws its label from annotations
        return problems
    lbl = Path(lbl)
    if lbl.suffix.lower() not in _HEADER_FORMATS:  # .mat and the like: no cheap header
        if not lbl.is_file():
            problems.append(f'{lbl}: label file is listed but missing')
        elif lbl.stat().st_size == 0:
            problems.append(f'{lbl}: label file is empty')
        return problems
    lbl_size, bands, problem = _header(lbl, 'label')
    if problem:
        problems.append(problem)
    # Datasets that build labels their own way (merged masks, .mat) decide sizes themselves.
    if plain_labels and bands is not None and bands != 1:
        problems.append(f'{lbl}: label has {bands} channels; expected a single-channel '
                        f'(greyscale or palette) PNG of class ids')
    if plain_labels and img_size and lbl_size and img_size != lbl_size:
        problems.append(f'image {img} is {img_size[0]}x{img_size[1]} but label {lbl} is '
                        f'{lbl_size[0]}x{lbl_size[1]} (WxH)')
    return problems


def preflight_problems(dataset, workers=None):
    """Every problem found in ``dataset.pairs``, one message per problem, naming the file."""
    pairs = getattr(dataset, 'pairs', None)
    if pairs is None:
        raise TypeError(f'preflight needs a dataset with .pairs (a SegmentationDataset), got '
                        f'{type(dataset).__name__}')
    plain_labels = type(dataset).read_raw_label is SegmentationDataset.read_raw_label
    workers = workers or min(16, (os.cpu_count() or 2) * 4)  # I/O bound: more than cores
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda pair: _check_pair(pair[0], pair[1], plain_labels), pairs)
        return [msg for problems in found for msg in problems]


def _check_command(dataset):
    from .base import DATASETS
    name = DATASETS.name_of(type(dataset))   # the registered name of this class, if any
    if name is None:
        return '`python -m mxnetseg data check`'
    cmd = f'python -m mxnetseg data check --data {name}'
    if getattr(dataset, 'root', None) is not None:
        cmd += f' --root {shlex.quote(str(dataset.root))}'
    if getattr(dataset, 'split', None):
        cmd += f' --split {dataset.split}'
    if name == 'list':  # its class set comes from the caller
        cmd += f' --num-class {dataset.num_class}'
        if dataset.ignore_label is not None:
            cmd += f' --ignore-label {dataset.ignore_label}'
    return f'`{cmd}`'


def preflight(dataset, workers=None, max_listed=20):
    """Check every listed pair's headers; raise one DataError listing up to ``max_listed``
    problems (and how many there are) or return ``(pairs checked, seconds)``."""
    start = time.perf_counter()
    problems = preflight_problems(dataset, workers)
    seconds = time.perf_counter() - start
    if problems:
        name = type(dataset).__name__
        split = getattr(dataset, 'split', '?')
        shown = '\n  '.join(problems[:max_listed])
        extra = len(problems) - max_listed
        more = f'\n  ... and {extra} more' if extra > 0 else ''
        raise DataError(
            f'pre-flight check: {len(problems)} problem(s) in {name} split {split!r} '
            f'({len(dataset.pairs)} pairs, headers read in {seconds:.1f} s):\n  {shown}{more}\n'
            f'Fix or remove these files ({_check_command(dataset)} reads every pixel and lists '
            f'all problems), or set preflight: false to skip this check.')
    return len(dataset.pairs), seconds
