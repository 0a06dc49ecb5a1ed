"""NYU Depth v2 with the 40-class labelling of Gupta et al. (RGB only)."""
import numpy as np

from .base import register_dataset
from .splitlist import SplitListDataset, shift_down

__all__ = ['NYUv2']


@register_dataset('NYUv2', aliases=('nyu',))
class NYUv2(SplitListDataset):
    """NYUv2-40: raw 0 (unlabelled) -> ignore, 1..40 -> 0..39.

    Layout (under ``<data_root>/NYUv2``; made from the official .mat files by a prep script)::

        train.txt, val.txt   one image id per line (795 / 654)
        images/<id>.jpg
        labels40/<id>.png
    """
    NUM_CLASS = 40
    CLASSES = (
        'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
        'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser',
        'pillow', 'mirror', 'floor mat', 'clothes', 'ceiling', 'books', 'refridgerator',
        'television', 'paper', 'towel', 'shower curtain', 'box', 'whiteboard', 'person',
        'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag', 'otherstructure',
        'otherfurniture', 'otherprop',
    )
    # The original's visualisation palette (utils/palette.py).
    PALETTE = np.array([
        (255, 20, 23), (255, 102, 17), (255, 136, 68), (255, 238, 85), (254, 254, 56),
        (255, 255, 153), (170, 204, 34), (187, 221, 119), (200, 207, 130), (146, 167, 126),
        (85, 153, 238), (0, 136, 204), (34, 102, 136), (23, 82, 121), (85, 119, 119),
        (221, 187, 51), (211, 167, 109), (169, 131, 75), (118, 118, 118), (81, 87, 74),
        (68, 124, 105), (116, 196, 147), (142, 140, 109), (228, 191, 128), (233, 215, 142),
        (226, 151, 93), (241, 150, 112), (225, 101, 82), (201, 74, 83), (190, 81, 104),
        (163, 73, 116), (153, 55, 103), (101, 56, 125), (78, 36, 114), (145, 99, 182),
        (226, 121, 163), (224, 89, 139), (124, 159, 176), (86, 152, 196), (154, 191, 136),
    ], dtype=np.uint8)
    DIR_NAME = 'NYUv2'
    SPLIT_LISTS = {'train': 'train.txt', 'val': 'val.txt'}
    IMAGE_DIR, LABEL_DIR = 'images', 'labels40'

    def _map_label(self, raw):
        return shift_down(raw)
