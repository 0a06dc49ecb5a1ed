"""Dataset base class, data-root resolution and the dataset registry (file decoding: decode.py)."""
import abc
import difflib
import inspect
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from ..registry import Registry, UnknownNameError
from . import transforms as T
from .decode import (DataError, MissingFileError, _read_bytes, decode_image, decode_label,
                     decode_png_rows, png_header, read_image, read_label)
from .imagefile import JPEG_SOI
from .labels import IGNORE_INDEX

__all__ = [
    'IGNORE_INDEX', 'DataError', 'DatasetOptionError', 'MissingFileError',
    'UnknownDatasetError',
    'SegmentationDataset', 'read_image', 'decode_image', 'read_label', 'resolve_data_root',
    'register_dataset',
    'get_dataset_class', 'list_datasets', 'get_dataset', 'single_thread_opencv_for_workers',
]

MODES = ('train', 'val', 'testval', 'test')


class DatasetOptionError(DataError, TypeError):
    """An option the dataset does not take (a TypeError, as a wrong keyword argument is)."""


class UnknownDatasetError(UnknownNameError, ValueError):
    """Raised for an unregistered dataset name; catchable as KeyError or ValueError."""


def single_thread_opencv_for_workers() -> None:
    """Call in the main process before a DataLoader forks its workers: OpenCV's thread pool,
    once used from several threads, leaves a forked child that hangs in its first
    ``cv2.setNumThreads`` or parallel call. One OpenCV thread here (inherited by every worker,
    where one is what we want: N workers x N threads oversubscribe the cores) avoids both."""
    cv2.setNumThreads(1)


# ---------------------------------------------------------------------------- data root
def resolve_data_root(data_root=None):
    """Folder holding the datasets: explicit argument > $MXNETSEG_DATA > ./dataset."""
    if data_root is None:
        data_root = os.environ.get('MXNETSEG_DATA') or 'dataset'
    return Path(data_root).expanduser()


# ---------------------------------------------------------------------------- dataset
# Decode a PNG row by row only when the crop reads at most this share of its rows: all rows
# of a 2048x1024 RGB frame that way (CRC check included) take 21.3 ms, the whole-image
# decode 20.3 ms.
ROW_DECODE_SHARE = 0.9
_UNMAPPED = -2 ** 15   # label table entry of a raw value that _map_label refuses


class SegmentationDataset(torch.utils.data.Dataset, abc.ABC):
    """File-pair segmentation dataset with GluonCV's four modes (SEED-MAP §7).

    Subclasses set the class attributes and implement ``_get_pairs(split)``; they override
    ``_map_label(raw)`` when raw label values are not already class ids.

    Speed options (every dataset takes them, e.g. through ``data_kwargs``):
    ``cache_mb`` keeps up to that many MB of decoded train images and labels in RAM: the
    train set fills it at construction, in the main process, so forked loader workers share
    those pages (a spawned worker starts empty and fills its own up to the same limit).
    ``reduced_decode`` (on) decodes a JPEG at 1/2, 1/4 or 1/8 size when the train scale
    shrinks it at least that much (the DCT-domain reduction averages, like PIL's resize),
    and decodes a PNG pair (RGB image, greyscale label) only down to the last row the crop
    reads (libspng through pyspng; the same samples as whole files give).
    ``set_output('uint8')`` makes samples uint8 HWC tensors for ``normalize_batch`` on the
    device (the trainer asks for it); the default output is normalised float32 CHW.
    """
    NUM_CLASS = 0
    CLASSES = ()
    PALETTE = np.zeros((0, 3), dtype=np.uint8)
    DIR_NAME = ''
    SUPPORTED_MODES = MODES  # narrowed where the original has no test/testval path
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, root=None, split='train', mode=None, crop_size=480, base_size=520,
                 seed=0, data_root=None, cache_mb=0, reduced_decode=True):
        name = type(self).__name__
        if mode is None:
            mode = split if split in MODES else 'train' if split == 'trainval' else None
            if mode is None:
                raise DataError(f'{name}: cannot infer a mode from split {split!r}; '
                                f'pass mode= one of {MODES}')
        if mode not in MODES:
            raise DataError(f'{name}: unknown mode {mode!r}; expected one of {MODES}')
        if mode not in self.SUPPORTED_MODES:
            raise DataError(f'{name} has no {mode!r} mode (as in the original); supported: '
                            f'{self.SUPPORTED_MODES}')
        if int(seed) < 0:
            raise DataError(f'{name}: seed must be >= 0, got {seed}')
        self.split, self.mode = split, mode
        self.crop_size, self.base_size = int(crop_size), int(base_size)
        self.seed, self.epoch = int(seed), 0
        if not float(cache_mb) >= 0:
            raise DataError(f'{name}: cache_mb must be a size in MB >= 0 (0 = no cache), '
                            f'got {cache_mb!r}')
        self.cache_mb, self.reduced_decode = float(cache_mb), bool(reduced_decode)
        self._cache, self._cache_bytes, self.output = {}, 0, 'float'
        self._lut = None   # uint8 label -> class id table, see _map_raw
        self.root = self._resolve_root(root, data_root)
        self.pairs = [(Path(img), None if lbl is None else Path(lbl))
                      for img, lbl in self._get_pairs(split)]
        if not self.pairs:
            raise FileNotFoundError(f'{name}: split {split!r} under {self.root} has no images; '
                                    f'check the dataset layout ({self._layout_hint()})')
        if mode != 'test':
            missing = [img for img, lbl in self.pairs if lbl is None]
            if missing:
                raise FileNotFoundError(
                    f'{name}: {len(missing)} image(s) of split {split!r} have no label, e.g. '
                    f'{missing[0]}; mode {mode!r} needs labels, use mode="test" for image-only splits')
        if self.cache_mb and mode == 'train':
            self.fill_cache()

    # -- helpers for the folder-walking loaders (ADE20K, Cityscapes, BDD100K, Mapillary) --
    def _image_dir(self, path):
        """``path`` when it is a folder; else an error naming it and the expected layout."""
        if not Path(path).is_dir():
            raise FileNotFoundError(f'{type(self).__name__}: image folder {path} not found; '
                                    f'{self._layout_hint()} (set data_root / $MXNETSEG_DATA '
                                    f'or pass root=)')
        return path

    def _pair_files(self, images, label_for, unlabelled='skip'):
        """(image, label) for each image, ``label_for(image)`` naming its label file. In test
        mode a missing label becomes None; otherwise the image is skipped (``'skip'``, as the
        original's folder walks do) or is an error naming both files (``'error'``)."""
        pairs = []
        for img in images:
            label = label_for(img)
            if label.is_file():
                pairs.append((img, label))
            elif self.mode == 'test':
                pairs.append((img, None))
            elif unlabelled == 'error':
                raise FileNotFoundError(f'{type(self).__name__}: no label {label} for image '
                                        f'{img}; {self._layout_hint()}')
        return pairs

    # -- subclass hooks -------------------------------------------------------------
    @abc.abstractmethod
    def _get_pairs(self, split):
        """Return [(image_path, label_path or None), ...] for ``split``."""

    def _map_label(self, raw):
        """Raw decoded label -> class ids with IGNORE_INDEX for void (identity by default).

        Raise DataError (without the file name; the caller adds it) for unmappable values.
        """
        return raw

    @classmethod
    def _is_dataset_dir(cls, path):
        """True when ``path`` itself holds this dataset's layout (used for forgiving roots)."""
        return False

    def _layout_hint(self):
        return 'see the dataset class docstring for the expected layout'

    # -- public API -------------------------------------------------------------------
    @property
    def num_class(self):
        return self.NUM_CLASS

    @property
    def classes(self):
        return self.CLASSES

    @property
    def palette(self):
        return self.PALETTE

    @property
    def notes(self):
        """Things a user must know about this split that its name does not say (e.g. CamVid's
        val being the test set); shown by repr and ``data check``, worth logging at start."""
        return ()

    def set_epoch(self, epoch):
        """Select the augmentation stream; call once per epoch (like DistributedSampler)."""
        self.epoch = int(epoch)

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        index = int(index)
        if index < 0:
            index += len(self.pairs)
        img_path, label_path = self.pairs[index]
        try:
            return self._load_sample(index, img_path, label_path)
        except cv2.error as err:  # e.g. a degenerate image size; DataError is what callers catch
            files = img_path if label_path is None else f'{img_path} / {label_path}'
            raise DataError(f'{files}: OpenCV failed on this sample ({str(err).strip()}); '
                            f'check the files with python -m mxnetseg data check') from None

    def set_output(self, kind):
        """'float' (default): normalised float32 CHW images; 'uint8': uint8 HWC, for
        ``transforms.normalize_batch`` on the device."""
        if kind not in ('float', 'uint8'):
            raise DataError(f"{type(self).__name__}.set_output: unknown output {kind!r}; "
                            f"expected 'float' or 'uint8'")
        self.output = kind

    def _image_out(self, image):
        if self.output == 'uint8':
            return torch.from_numpy(np.ascontiguousarray(image))
        return torch.from_numpy(T.normalize(image, self.MEAN, self.STD))

    def _load_sample(self, index, img_path, label_path):
        if self.mode == 'train':
            image, label, source, raw = self._train_inputs(index, img_path, label_path)
            mapping = (lambda region: self._mapped_label(region, label_path)) if raw else None
            image, label = T.sync_train(image, label, self.crop_size, self.base_size,
                                        self._train_rng(index), source_size=source,
                                        map_label=mapping)
            return self._image_out(image), torch.from_numpy(label.astype(np.int64))
        image = self.load_image(img_path)
        if self.mode == 'test':
            return self._image_out(image), self._relative(img_path)
        label = self.load_label(label_path)
        self._check_sizes(image.shape[:2], label.shape, img_path, label_path)
        if self.mode == 'val':
            image, label = T.sync_val(image, label, self.crop_size)
        return self._image_out(image), torch.from_numpy(label.astype(np.int64))

    def _train_rng(self, index):
        # Seeded per (seed, epoch, index): identical across workers, ranks and resumes.
        return np.random.default_rng([self.seed, self.epoch, index])

    @staticmethod
    def _check_sizes(image_hw, label_hw, img_path, label_path, approx=''):
        if tuple(label_hw) != tuple(image_hw):
            raise DataError(f'image {img_path} is {approx}{image_hw[1]}x{image_hw[0]} but label '
                            f'{label_path} is {label_hw[1]}x{label_hw[0]} (WxH); they must '
                            f'match, fix or remove this pair')

    def _train_inputs(self, index, img_path, label_path):
        """(image, label, source_size, raw): the cached pair, or a freshly decoded one; the
        image is decoded reduced (source_size = full (h, w)) when the plan allows it; raw =
        True when the label still holds raw values, to be mapped after the crop."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit[0], hit[1], None, False
        plain_loader = type(self).load_image is SegmentationDataset.load_image
        if self.reduced_decode and plain_loader and not self._cache_has_room():
            data = _read_bytes(img_path)
            if data[:2].tobytes() == JPEG_SOI:
                label = self.load_label(label_path)
                h, w = label.shape
                f = self._reduction(h, w, index)
                image = decode_image(data, img_path, f)
                full = (h, w) if f > 1 else None
                expect = (-(-h // f), -(-w // f))
                self._check_sizes(image.shape[:2], expect, img_path, label_path,
                                  'about ' if f > 1 else '')
                return image, label, full, False
            top_rows = self._png_top_rows(index, data, img_path, label_path)
            if top_rows is not None:
                return top_rows
            image = decode_image(data, img_path)
        else:
            image = self.load_image(img_path)
        label = self.load_label(label_path)
        self._check_sizes(image.shape[:2], label.shape, img_path, label_path)
        self._cache_put(index, image, label)
        return image, label, None, False

    def _png_top_rows(self, index, data, img_path, label_path):
        """``_train_inputs`` with only the top rows this sample's crop reads decoded (the rest
        zero, never read), when the image is an RGB and the label a greyscale 8-bit PNG and
        the plain label reader is in use; else None (decode whole files). When the label
        mapping is known to work pixel by pixel, the label is cut short and left raw: only
        the crop's pixels are mapped and checked (a few times fewer than the frame's)."""
        if type(self).read_raw_label is not SegmentationDataset.read_raw_label:
            return None
        head = png_header(data)
        if head is None or head[2] != 3:
            return None
        label_data = _read_bytes(label_path)
        label_head = png_header(label_data)
        if label_head is None or label_head[2] != 1:
            return None
        h, w = head[:2]
        self._check_sizes((h, w), label_head[:2], img_path, label_path)
        plan = T.plan_train(h, w, self.crop_size, self.base_size, self._train_rng(index))
        image_rows, label_rows = T.rows_read(h, plan)
        if image_rows <= ROW_DECODE_SHARE * h:
            image = decode_png_rows(data, img_path, image_rows)
            if image is None:
                return None
        else:   # whole-file decoders are faster than row by row
            image = decode_image(data, img_path)
        per_pixel = (type(self)._map_label is SegmentationDataset._map_label
                     or isinstance(self._lut, np.ndarray))   # a checked table: see _map_raw
        if not per_pixel:
            return image, self._mapped_label(decode_label(label_data, label_path), label_path), \
                None, False
        raw = None
        if label_rows <= ROW_DECODE_SHARE * h:
            raw = decode_png_rows(label_data, label_path, label_rows, 'label')
        if raw is None:
            raw = decode_label(label_data, label_path)
        return image, raw, None, True

    def _reduction(self, h, w, index):
        """Largest JPEG reduction f in (8, 4, 2) that this sample's scale allows, else 1."""
        plan = T.plan_train(h, w, self.crop_size, self.base_size, self._train_rng(index))
        shrink = min(w / plan.out_w, h / plan.out_h)
        return next((f for f in (8, 4, 2) if shrink >= f), 1)

    # -- decoded-sample cache ----------------------------------------------------------
    def _cache_has_room(self):
        return self._cache_bytes < self.cache_mb * 2 ** 20

    def _cache_put(self, index, image, label):
        size = image.nbytes + label.nbytes
        if self._cache_bytes + size <= self.cache_mb * 2 ** 20:
            self._cache[index] = (image, label)
            self._cache_bytes += size

    def fill_cache(self):
        """Decode train samples in order into the cache until ``cache_mb`` is reached."""
        for index, (img_path, label_path) in enumerate(self.pairs):
            if not self._cache_has_room():
                break
            if index not in self._cache:
                try:
                    self._train_inputs(index, img_path, label_path)
                except DataError:
                    continue   # reported when the sample itself is loaded
        return len(self._cache)

    def __getstate__(self):
        # A spawned loader worker gets the dataset pickled: not gigabytes of cache with it.
        state = dict(self.__dict__)
        state['_cache'], state['_cache_bytes'] = {}, 0
        return state

    def load_image(self, path):
        """Decoded uint8 HWC RGB image (hook for datasets that pre-resize, e.g. MHP)."""
        return read_image(path)

    def read_raw_label(self, path):
        """Raw label values before mapping (hook for .mat labels and merged masks)."""
        return read_label(path)

    def load_label(self, path):
        """Read, map and validate a label file -> int16 class ids with IGNORE_INDEX."""
        return self._mapped_label(self.read_raw_label(path), path)

    def _mapped_label(self, raw, path):
        """Raw values of ``path`` -> checked int16 class ids (see ``load_label``)."""
        try:
            label = self._map_raw(raw)
        except DataError as err:
            raise DataError(f'{path}: {err}') from None
        lo, hi = int(label.min()), int(label.max())
        if lo < IGNORE_INDEX or hi >= self.NUM_CLASS:
            values = np.unique(label)
            bad = values[(values < IGNORE_INDEX) | (values >= self.NUM_CLASS)]
            raise DataError(f'{path}: label values {bad[:10].tolist()} are outside the class ids '
                            f'0..{self.NUM_CLASS - 1} (and {IGNORE_INDEX} for ignore) of '
                            f'{type(self).__name__}; fix the file or the label mapping')
        return label.astype(np.int16, copy=False)

    def _map_raw(self, raw):
        """``_map_label(raw)``; for uint8 labels one cv2.LUT through a table of what
        ``_map_label`` gives each of the 256 values (several full-frame numpy passes fewer).
        The table is checked against the direct mapping on the first file, so a mapping that
        is not per pixel is never tabulated; a value the mapping refuses takes the direct path,
        for its error message."""
        if raw.dtype != np.uint8 or raw.ndim != 2 or self._lut is False:
            return np.asarray(self._map_label(raw))
        if self._lut is None:
            direct = np.asarray(self._map_label(raw))
            lut = self._uint8_table()
            same = lut is not None and np.array_equal(cv2.LUT(raw, lut), direct)
            self._lut = lut if same else False
            return direct
        label = cv2.LUT(raw, self._lut)
        if cv2.minMaxLoc(label)[0] == _UNMAPPED:
            return np.asarray(self._map_label(raw))
        return label

    def _uint8_table(self):
        table = np.full((1, 256), _UNMAPPED, np.int16)
        for value in range(256):
            try:
                mapped = np.asarray(self._map_label(np.full((1, 1), value, np.uint8)))
            except DataError:
                continue
            if mapped.shape != (1, 1) or not _UNMAPPED < int(mapped[0, 0]) < 2 ** 15:
                return None
            table[0, value] = int(mapped[0, 0])
        return table

    def __repr__(self):
        return (f'{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, '
                f'mode={self.mode!r}, len={len(self)}, crop_size={self.crop_size}, '
                f'base_size={self.base_size})' + ''.join(f'  # {n}' for n in self.notes))

    # -- helpers ------------------------------------------------------------------------
    @classmethod
    def _resolve_root(cls, root, data_root):
        if root is not None:
            return Path(root).expanduser()
        base = resolve_data_root(data_root)
        return base if cls._is_dataset_dir(base) else base / cls.DIR_NAME

    def _relative(self, path):
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:  # a list file may point outside the root
            return Path(path).name


# ---------------------------------------------------------------------------- registry
DATASETS = Registry('dataset', UnknownDatasetError)


def register_dataset(name, aliases=()):
    """Class decorator: make ``cls`` reachable by ``name`` and ``aliases`` (case-insensitive)."""
    return DATASETS.register(name, aliases)


def list_datasets():
    """Canonical names of all registered datasets, sorted case-insensitively."""
    return sorted(DATASETS.names(), key=str.lower)


def get_dataset_class(name):
    return DATASETS.get(name)


def _options(cls):
    """Keyword options of a dataset class: its constructors' parameters along the MRO (they
    pass the rest on with ``**kwargs``)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for klass in cls.__mro__ if '__init__' in vars(klass)
            and klass.__module__.startswith(__package__)
            for p in inspect.signature(vars(klass)['__init__']).parameters.values()
            if p.kind in kinds and p.name != 'self'}


def get_dataset(name, root=None, split='train', mode=None, crop_size=480, base_size=520,
                seed=0, **kwargs):
    """Build a registered dataset, e.g. ``get_dataset('cityscapes', split='val')``. An option
    the dataset does not take (a ``data_kwargs`` typo) is a one-line error with a hint."""
    cls = get_dataset_class(name)
    valid = _options(cls)
    for key in kwargs:
        if key not in valid:
            close = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DatasetOptionError(f"dataset {cls.__name__!r} has no option {key!r}.{hint} "
                                     f"Its options: {', '.join(sorted(valid))}.")
    return cls(root=root, split=split, mode=mode, crop_size=crop_size, base_size=base_size,
               seed=seed, **kwargs)
