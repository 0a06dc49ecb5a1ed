"""Shared parts of the list-file datasets: split lists, file checks, label mappings, .mat labels.

Most of the original's datasets are "a text file per split naming the samples" plus a folder
of images and a folder of labels; `SplitListDataset` states that once, and each dataset
declares its folders, its split -> list table (where the original's oddities live) and its
label mapping.
"""
from pathlib import Path

import numpy as np

from .base import IGNORE_INDEX, DataError, SegmentationDataset

__all__ = ['SplitListDataset', 'read_split_list', 'checked_pairs', 'shift_down', 'void_to_ignore',
           'read_mat_label']


def read_split_list(path, columns=(1, 1), what=''):
    """Entries of a split list, one per non-blank line, whitespace-separated -> [tuple, ...].

    ``columns`` is the allowed (min, max) field count; ``what`` (dataset and expected layout)
    completes the error for a missing or malformed list.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'split list {path} not found; {what}')
    lo, hi = columns
    entries = [tuple(line.split()) for line in path.read_text().splitlines() if line.strip()]
    for fields in entries:
        if not lo <= len(fields) <= hi:
            raise DataError(f'{path}: line {" ".join(fields)!r} has {len(fields)} field(s), '
                            f'expected {lo}..{hi}; {what}')
    return entries


def checked_pairs(pairs, what='', labels_optional=False):
    """Fail at construction on the first listed file that is missing (the original asserts
    the same up front) rather than epochs later in a worker. With ``labels_optional``
    (test mode, which needs no labels) a missing label becomes None."""
    out = []
    for img, lbl in pairs:
        if not Path(img).is_file():
            raise FileNotFoundError(f'image {img} is listed but missing; {what}')
        if lbl is not None and not Path(lbl).is_file():
            if not labels_optional:
                raise FileNotFoundError(f'label {lbl} is listed but missing; {what}')
            lbl = None
        out.append((img, lbl))
    return out


def _as_int16(raw):
    # A plain cast would wrap: a 16-bit 65535 became -1 (ignore) without a word.
    raw = np.asarray(raw)
    if raw.size and (raw.dtype.itemsize > 1 or raw.dtype.kind == 'f'):
        lo, hi = raw.min(), raw.max()
        if lo < np.iinfo(np.int16).min or hi > np.iinfo(np.int16).max:
            raise DataError(f'label values range {lo}..{hi}, beyond any class id; expected '
                            f'a label map of class ids')
    return raw.astype(np.int16)


def shift_down(raw):
    """value - 1, so raw 0 (unlabelled / background / 'other') becomes IGNORE_INDEX."""
    return _as_int16(raw) - 1


def void_to_ignore(raw, void):
    """Class ids kept as they are, the dataset's void value -> IGNORE_INDEX."""
    raw = np.asarray(raw)
    label = _as_int16(raw)
    label[raw == void] = IGNORE_INDEX
    return label


def read_mat_label(path, key, field=None, dataset=''):
    """A label matrix stored in a MATLAB file (SBD ``GTcls.Segmentation``, COCO-Stuff ``S``).

    scipy is imported here, lazily, because only these two datasets need it.
    """
    loadmat = require_scipy_loadmat(dataset)
    try:
        mat = loadmat(str(path), mat_dtype=True, squeeze_me=True, struct_as_record=False)
        value = mat[key] if field is None else getattr(mat[key], field)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: label file not found') from None
    except (KeyError, AttributeError):
        where = key if field is None else f'{key}.{field}'
        raise DataError(f'{path}: no {where!r} entry in this .mat file') from None
    except Exception as err:  # noqa: BLE001 - scipy raises MatReadError, ValueError, OSError...
        raise DataError(f'{path}: cannot read the .mat label ({type(err).__name__}: {err}); '
                        f're-download it') from None
    label = np.asarray(value)
    if label.ndim != 2:
        raise DataError(f'{path}: {key} has shape {label.shape}; expected a 2-D label map')
    return label.astype(np.int32)  # stored as doubles (mat_dtype=True)


def require_scipy_loadmat(dataset=''):
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError(f'{dataset or "this dataset"} stores labels as MATLAB .mat files; '
                          f'reading them needs scipy: pip install scipy') from None
    return loadmat


class SplitListDataset(SegmentationDataset):
    """A dataset whose splits are list files under the root.

    A list line is one sample id (``<IMAGE_DIR>/<id><IMAGE_EXT>`` and
    ``<LABEL_DIR>/<id><LABEL_EXT>``) or, with ``PAIRED``, an ``image label`` pair of names
    relative to ``IMAGE_DIR`` / ``LABEL_DIR``.

    ``strict=False`` takes the list as is instead of failing on the first listed file that is
    missing: the data checker wants every problem, and tests each file itself.
    """
    SPLIT_LISTS = {}  # split -> list file relative to the root
    IMAGE_DIR, LABEL_DIR = 'images', 'labels'
    IMAGE_EXT, LABEL_EXT = '.jpg', '.png'  # '' when the list already holds file names
    PAIRED = False

    def __init__(self, *args, strict=True, **kwargs):
        self.strict = strict   # set first: the base constructor lists the pairs
        super().__init__(*args, **kwargs)

    @classmethod
    def _is_dataset_dir(cls, path):
        path = Path(path)
        return (path / cls.IMAGE_DIR).is_dir() and any(
            (path / name).is_file() for name in cls.SPLIT_LISTS.values())

    def _layout_hint(self):
        lists = ', '.join(f'{s} -> {f}' for s, f in self.SPLIT_LISTS.items())
        if self.PAIRED:
            entry = (f'"<image> <label>" lines naming files in {self.IMAGE_DIR}/ and '
                     f'{self.LABEL_DIR}/')
        else:
            entry = (f'one id per line for {self.IMAGE_DIR}/<id>{self.IMAGE_EXT} and '
                     f'{self.LABEL_DIR}/<id>{self.LABEL_EXT}')
        return f'expected split lists ({lists}) under the root with {entry}'

    def _what(self):
        return (f'{type(self).__name__} under {self.root}: {self._layout_hint()} '
                f'(set data_root / $MXNETSEG_DATA or pass root=)')

    def _split_list(self, split):
        if split not in self.SPLIT_LISTS:
            raise DataError(f'{type(self).__name__}: unknown split {split!r}; the original '
                            f'defines {tuple(self.SPLIT_LISTS)}')
        return self.root / self.SPLIT_LISTS[split]

    def _get_pairs(self, split):
        list_file = self._split_list(split)
        if not self.root.is_dir():
            raise FileNotFoundError(f'{type(self).__name__}: dataset folder {self.root} not '
                                    f'found; {self._what()}')
        entries = read_split_list(list_file, self._columns(), self._what())
        pairs = [self._entry_pair(*entry) for entry in entries]
        if not self.strict:
            return pairs
        return checked_pairs(pairs, self._what(), labels_optional=self.mode == 'test')

    def _columns(self):
        return (2, 2) if self.PAIRED else (1, 1)

    def _entry_pair(self, name, label_name=None):
        if label_name is None:  # an id, or a file name shared by image and label
            return (self.root / self.IMAGE_DIR / f'{name}{self.IMAGE_EXT}',
                    self.root / self.LABEL_DIR / f'{name}{self.LABEL_EXT}')
        return self.root / self.IMAGE_DIR / name, self.root / self.LABEL_DIR / label_name
