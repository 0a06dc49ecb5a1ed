"""Cityscapes (fine annotations), 19 evaluated classes in trainId order."""
from pathlib import Path

import numpy as np

from .base import IGNORE_INDEX, DataError, SegmentationDataset, register_dataset

__all__ = ['Cityscapes', 'CityCoarse', 'TRAIN_ID_TO_LABEL_ID', 'LABEL_ID_TO_TRAIN_ID',
           'train_id_to_label_id']

# labelIds of the 19 evaluated classes; position = trainId (official cityscapesscripts table).
TRAIN_ID_TO_LABEL_ID = np.array(
    [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33], dtype=np.uint8)

_MAX_LABEL_ID = 33
# Indexed by labelId + 1 so that the official table's -1 (license plate) has a slot.
LABEL_ID_TO_TRAIN_ID = np.full(_MAX_LABEL_ID + 2, IGNORE_INDEX, dtype=np.int16)
LABEL_ID_TO_TRAIN_ID[TRAIN_ID_TO_LABEL_ID.astype(np.int64) + 1] = np.arange(19, dtype=np.int16)


def train_id_to_label_id(pred):
    """trainId prediction (0..18) -> uint8 labelIds, the format the Cityscapes server wants.

    Ignore (-1) or any value outside 0..18 becomes labelId 0 ('unlabeled').
    """
    pred = np.asarray(pred)
    out = np.zeros(pred.shape, dtype=np.uint8)
    valid = (pred >= 0) & (pred < len(TRAIN_ID_TO_LABEL_ID))
    out[valid] = TRAIN_ID_TO_LABEL_ID[pred[valid].astype(np.int64)]
    return out


@register_dataset('Cityscapes', aliases=('citys', 'city'))
class Cityscapes(SegmentationDataset):
    """Cityscapes with gtFine labelIds mapped to the 19 trainIds.

    Layout (under ``<data_root>/Cityscapes``)::

        leftImg8bit/<split>/<city>/<name>_leftImg8bit.png
        gtFine/<split>/<city>/<name>_gtFine_labelIds.png

    Splits: train, val, test, trainval (= train + val). As in the original, an image is kept
    only when its label exists, except in ``test`` mode, which lists every image.
    """
    NUM_CLASS = 19
    CLASSES = ('road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light',
               'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
               'truck', 'bus', 'train', 'motorcycle', 'bicycle')
    PALETTE = np.array([
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
        (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
        (0, 80, 100), (0, 0, 230), (119, 11, 32)], dtype=np.uint8)
    DIR_NAME = 'Cityscapes'

    @classmethod
    def _is_dataset_dir(cls, path):
        return (Path(path) / 'leftImg8bit').is_dir()

    def _layout_hint(self):
        return ('expected leftImg8bit/<split>/<city>/*_leftImg8bit.png and '
                'gtFine/<split>/<city>/*_gtFine_labelIds.png')

    def _get_pairs(self, split):
        splits = ('train', 'val') if split == 'trainval' else (split,)
        pairs = []
        for name in splits:
            pairs.extend(self._split_pairs(name))
        return pairs

    def _split_pairs(self, split, gt='gtFine'):
        img_dir = self._image_dir(self.root / 'leftImg8bit' / split)
        label_dir = self.root / gt / split
        if self.mode != 'test' and not label_dir.is_dir():
            raise FileNotFoundError(f'{type(self).__name__}: label folder {label_dir} not found; '
                                    f'{self._layout_hint()}')
        def label_for(img):
            stem = img.name[:-len('_leftImg8bit.png')]
            return label_dir / img.parent.name / f'{stem}_{gt}_labelIds.png'
        return self._pair_files(sorted(img_dir.glob('*/*_leftImg8bit.png')), label_for)

    def _map_label(self, raw):
        lo, hi = int(raw.min()), int(raw.max())
        if lo < -1 or hi > _MAX_LABEL_ID:
            values = np.unique(raw)
            bad = values[(values < -1) | (values > _MAX_LABEL_ID)]
            raise DataError(f'labelId values {bad[:10].tolist()} are outside 0..{_MAX_LABEL_ID}; '
                            f'expected a *_gtFine_labelIds.png (not trainIds/colour/instanceIds)')
        if raw.dtype == np.uint8:  # the usual case: index without an int64 copy
            return LABEL_ID_TO_TRAIN_ID[1:][raw]
        return LABEL_ID_TO_TRAIN_ID[raw.astype(np.int64) + 1]


@register_dataset('CityCoarse')
class CityCoarse(Cityscapes):
    """Cityscapes' 20k coarsely labelled extra images for training, fine val for validation.

    ``train`` pairs ``leftImg8bit/train_extra/<city>/*`` with
    ``gtCoarse/train_extra/<city>/*_gtCoarse_labelIds.png``; every other split is the fine
    ``val`` set. Same labelId -> trainId table; as in the original, only the train and val
    modes exist.
    """
    SUPPORTED_MODES = ('train', 'val')

    def _layout_hint(self):
        return ('expected leftImg8bit/train_extra/<city>/*_leftImg8bit.png with '
                'gtCoarse/train_extra/<city>/*_gtCoarse_labelIds.png, and the fine val set '
                '(leftImg8bit/val, gtFine/val)')

    def _get_pairs(self, split):
        if split == 'train':
            return self._split_pairs('train_extra', gt='gtCoarse')
        return self._split_pairs('val')
