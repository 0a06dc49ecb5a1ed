"""CamVid (11 classes) and the generic image/label list dataset ('list' / 'folder')."""
import numpy as np

from .labels import voc_palette
from .base import DataError, register_dataset, resolve_data_root
from .splitlist import SplitListDataset, void_to_ignore

__all__ = ['CamVid', 'ListDataset']


@register_dataset('CamVid')
class CamVid(SplitListDataset):
    """CamVid, 11 classes; raw 11 (void) -> ignore.

    Layout (under ``<data_root>/CamVidFull``, or ``<data_root>/CamVid`` with
    ``full_resolution=False``)::

        trainval.txt, test.txt   "<image> <label>" lines, names relative to images/ and labels/
        images/...
        labels/...

    As in the original, split ``train`` reads **trainval.txt** and ``val`` reads **test.txt**
    (the model is tuned on the test set); ``test`` reads test.txt too.
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
    IMAGE_EXT = LABEL_EXT = ''
    PAIRED = True
    VOID = 11

    def __init__(self, root=None, *args, full_resolution=True, data_root=None, **kwargs):
        if root is None:  # the original picks the folder by resolution
            base = resolve_data_root(data_root)
            root = base if self._is_dataset_dir(base) else \
                base / ('CamVidFull' if full_resolution else 'CamVid')
        super().__init__(root, *args, data_root=data_root, **kwargs)

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
