"""Multi-Human Parsing v1: 18 body-part classes, one mask file per person merged per image."""
from pathlib import Path

import cv2
import numpy as np

from .base import DataError, SegmentationDataset, read_label, register_dataset
from .splitlist import checked_pairs, read_split_list, shift_down

__all__ = ['MHPV1', 'mhp_resized_size']


def mhp_resized_size(h, w, base_size):
    """The original's pre-resize: short side = base_size, long side scaled and, when not a
    multiple of 8, rounded to the nearest one (Python round) -> (new_h, new_w)."""
    if h < w:
        short, long_ = base_size, int(1.0 * w * base_size / h + 0.5)
    else:
        short, long_ = base_size, int(1.0 * h * base_size / w + 0.5)
    if long_ % 8:
        long_ = int(round(long_ / 8) * 8)
    return (short, long_) if h < w else (long_, short)


@register_dataset('MHPV1', aliases=('mhp',))
class MHPV1(SegmentationDataset):
    """LV-MHP v1; raw 0 (background) -> ignore, part k -> k - 1 (as in the original).

    Layout (under ``<data_root>/MHP/v1``)::

        train_list.txt, test_list.txt   one image file name per line
        images/<name>.jpg
        annotations/<stem>_<persons>_<index>.png   one mask per person

    Splits (the original's): train = first 3000 entries of train_list.txt, val = entries
    3001..3999 (entry 3000 is in neither), test = test_list.txt. The person masks of an
    image are merged in file-name order, the first non-zero value winning at each pixel.
    Outside test mode the image and label are first resized so the short side is
    ``base_size`` (default 768 here, as in the original) and the long side a multiple of 8.
    """
    NUM_CLASS = 18
    CLASSES = ('hat', 'hair', 'sunglasses', 'upper clothes', 'skirt', 'pants', 'dress', 'belt',
               'left shoe', 'right shoe', 'face', 'left leg', 'right leg', 'left arm',
               'right arm', 'bag', 'scarf', 'torso skin')
    # GluonCV's MHP palette as the original applies it: class i (already shifted) -> entry i.
    PALETTE = np.array([
        (255, 255, 255), (165, 42, 42), (255, 0, 0), (0, 128, 0), (165, 42, 42), (255, 69, 0),
        (255, 20, 147), (30, 144, 255), (85, 107, 47), (0, 128, 128), (139, 69, 19),
        (70, 130, 180), (50, 205, 50), (0, 0, 205), (0, 191, 255), (0, 255, 255),
        (0, 250, 154), (173, 255, 47),
    ], dtype=np.uint8)
    DIR_NAME = 'MHP/v1'
    SPLITS = {'train': ('train_list.txt', 0, 3000), 'val': ('train_list.txt', 3001, 4000),
              'test': ('test_list.txt', 0, None)}

    def __init__(self, root=None, split='train', mode=None, crop_size=480, base_size=768,
                 **kwargs):
        super().__init__(root, split, mode, crop_size, base_size, **kwargs)

    @classmethod
    def _is_dataset_dir(cls, path):
        return (Path(path) / 'train_list.txt').is_file()

    def _layout_hint(self):
        return ('expected train_list.txt / test_list.txt of image file names, images/<name> '
                'and annotations/<stem>_<persons>_<index>.png')

    def _get_pairs(self, split):
        if split not in self.SPLITS:
            raise DataError(f'MHPV1: unknown split {split!r}; expected {tuple(self.SPLITS)}')
        list_name, start, stop = self.SPLITS[split]
        what = f'MHPV1 under {self.root}: {self._layout_hint()}'
        names = [n for (n,) in read_split_list(self.root / list_name, (1, 1), what)]
        ann_dir = self.root / 'annotations'
        if self.mode != 'test' and not ann_dir.is_dir():
            raise FileNotFoundError(f'MHPV1: annotation folder {ann_dir} not found; {what}')
        # Index the person masks by image stem once. The original matched by a bare prefix,
        # so image "1" also took the masks of "10", "100", ...; the stem is matched whole here.
        by_stem = {}
        for mask in sorted(ann_dir.glob('*.png')) if ann_dir.is_dir() else ():
            by_stem.setdefault(mask.stem.rsplit('_', 2)[0], []).append(mask)
        self._person_masks, pairs = {}, []
        for name in names[start:stop]:
            masks = by_stem.get(Path(name).stem)
            if masks:
                self._person_masks[masks[0]] = masks
            elif self.mode != 'test':
                raise FileNotFoundError(f'MHPV1: no person masks annotations/{Path(name).stem}'
                                        f'_*.png for image {name}; {what}')
            pairs.append((self.root / 'images' / name, masks[0] if masks else None))
        return checked_pairs(pairs, what)

    def load_image(self, path):
        image = super().load_image(path)
        if self.mode == 'test':  # the original returns test images at their own size
            return image
        h, w = mhp_resized_size(image.shape[0], image.shape[1], self.base_size)
        return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)

    def read_raw_label(self, path):
        masks = self._person_masks.get(Path(path), [Path(path)])
        merged = None
        for mask in masks:
            part = read_label(mask)
            if merged is None:
                merged = np.zeros_like(part)
            elif part.shape != merged.shape:
                raise DataError(f'person mask {mask} is {part.shape[1]}x{part.shape[0]}, '
                                f'unlike {masks[0].name} ({merged.shape[1]}x{merged.shape[0]})')
            free = merged == 0
            merged[free] = part[free]
        h, w = mhp_resized_size(merged.shape[0], merged.shape[1], self.base_size)
        return cv2.resize(merged, (w, h), interpolation=cv2.INTER_NEAREST)

    def _map_label(self, raw):
        return shift_down(raw)
