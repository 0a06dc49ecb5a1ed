"""Mapillary Vistas (v1.2 labels), 65 classes plus 'unlabeled' (65) ignored."""
from pathlib import Path

import numpy as np

from .base import DataError, SegmentationDataset, register_dataset
from .splitlist import void_to_ignore

__all__ = ['Mapillary']


@register_dataset('Mapillary', aliases=('vistas',))
class Mapillary(SegmentationDataset):
    """Mapillary Vistas; raw 65 (unlabeled) -> ignore. 66-class mIoU = this mIoU x 65/66.

    Layout (under ``<data_root>/Mapillary``)::

        {train,val,test}/images/<name>.jpg
        {train,val}/labels/<name>.png

    Splits train, val, test and trainval (= train + val). Images are paired with labels by
    name (the original paired two separately walked lists, which could misalign).
    """
    NUM_CLASS = 65
    CLASSES = (
        'Bird', 'Ground Animal', 'Curb', 'Fence', 'Guard Rail', 'Barrier', 'Wall', 'Bike Lane',
        'Crosswalk-Plain', 'Curb Cut', 'Parking', 'Pedestrian Area', 'Rail Track', 'Road',
        'Service Lane', 'Sidewalk', 'Bridge', 'Building', 'Tunnel', 'Person', 'Bicyclist',
        'Motorcyclist', 'Other Rider', 'Lane Marking-Crosswalk', 'Lane Marking-General',
        'Mountain', 'Sand', 'Sky', 'Snow', 'Terrain', 'Vegetation', 'Water', 'Banner', 'Bench',
        'Bike Rack', 'Billboard', 'Catch Basin', 'CCTV Camera', 'Fire Hydrant', 'Junction Box',
        'Mailbox', 'Manhole', 'Phone Booth', 'Pothole', 'Street Light', 'Pole',
        'Traffic Sign Frame', 'Utility Pole', 'Traffic Light', 'Traffic Sign (Back)',
        'Traffic Sign (Front)', 'Trash Can', 'Bicycle', 'Boat', 'Bus', 'Car', 'Caravan',
        'Motorcycle', 'On Rails', 'Other Vehicle', 'Trailer', 'Truck', 'Wheeled Slow',
        'Car Mount', 'Ego Vehicle',
    )
    # The colours of Mapillary's config.json, which the original reads for its visualisation.
    PALETTE = np.array([
        (165, 42, 42), (0, 192, 0), (196, 196, 196), (190, 153, 153), (180, 165, 180),
        (90, 120, 150), (102, 102, 156), (128, 64, 255), (140, 140, 200), (170, 170, 170),
        (250, 170, 160), (96, 96, 96), (230, 150, 140), (128, 64, 128), (110, 110, 110),
        (244, 35, 232), (150, 100, 100), (70, 70, 70), (150, 120, 90), (220, 20, 60),
        (255, 0, 0), (255, 0, 100), (255, 0, 200), (200, 128, 128), (255, 255, 255),
        (64, 170, 64), (230, 160, 50), (70, 130, 180), (190, 255, 255), (152, 251, 152),
        (107, 142, 35), (0, 170, 30), (255, 255, 128), (250, 0, 30), (100, 140, 180),
        (220, 220, 220), (220, 128, 128), (222, 40, 40), (100, 170, 30), (40, 40, 40),
        (33, 33, 33), (100, 128, 160), (142, 0, 0), (70, 100, 150), (210, 170, 100),
        (153, 153, 153), (128, 128, 128), (0, 0, 80), (250, 170, 30), (192, 192, 192),
        (220, 220, 0), (140, 140, 20), (119, 11, 32), (150, 0, 255), (0, 60, 100), (0, 0, 142),
        (0, 0, 90), (0, 0, 230), (0, 80, 100), (128, 64, 64), (0, 0, 110), (0, 0, 70),
        (0, 0, 192), (32, 32, 32), (120, 10, 10),
    ], dtype=np.uint8)
    DIR_NAME = 'Mapillary'
    VOID = 65

    @classmethod
    def _is_dataset_dir(cls, path):
        return (Path(path) / 'train' / 'images').is_dir() or \
            (Path(path) / 'val' / 'images').is_dir()

    def _layout_hint(self):
        return 'expected <split>/images/*.jpg and <split>/labels/*.png for split train, val, test'

    def _get_pairs(self, split):
        if split not in ('train', 'val', 'test', 'trainval'):
            raise DataError(f'Mapillary: unknown split {split!r}; expected train, val, test '
                            f'or trainval')
        pairs = []
        for name in (('train', 'val') if split == 'trainval' else (split,)):
            img_dir = self._image_dir(self.root / name / 'images')
            labels = self.root / name / 'labels'
            pairs += self._pair_files(sorted(img_dir.rglob('*.jpg')),
                                      lambda img: labels / f'{img.stem}.png', 'error')
        return pairs

    def _map_label(self, raw):
        return void_to_ignore(raw, self.VOID)
