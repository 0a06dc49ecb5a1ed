"""Small list-file datasets: Aeroscapes, GATECH, SiftFlow, Stanford Background, SUN RGB-D,
Weizmann Horses. Each is the shared split-list logic plus its folders and label mapping."""
import numpy as np

from .labels import voc_palette
from .base import register_dataset
from .splitlist import SplitListDataset, shift_down, void_to_ignore

__all__ = ['Aeroscapes', 'GATECH', 'SiftFlow', 'StanfordBackground', 'SUNRGBD', 'WeizmannHorses']


@register_dataset('Aeroscapes')
class Aeroscapes(SplitListDataset):
    """Aeroscapes aerial scenes, 12 classes, labels used as they are.

    Layout: ``ImageSets/{trn,val}.txt`` (ids), ``JPEGImages/<id>.jpg``,
    ``SegmentationClass/<id>.png``. train -> trn.txt, val -> val.txt.
    """
    NUM_CLASS = 12
    CLASSES = ('background', 'person', 'bike', 'car', 'drone', 'boat', 'animal', 'obstacle',
               'construction', 'vegetation', 'road', 'sky')
    PALETTE = np.array([  # the original's visualisation palette
        (0, 0, 0), (192, 128, 128), (0, 128, 0), (128, 128, 128), (128, 0, 0), (0, 0, 128),
        (192, 0, 128), (192, 0, 0), (192, 128, 0), (0, 64, 0), (128, 128, 0), (0, 128, 128),
    ], dtype=np.uint8)
    DIR_NAME = 'Aeroscapes'
    SPLIT_LISTS = {'train': 'ImageSets/trn.txt', 'val': 'ImageSets/val.txt'}
    IMAGE_DIR, LABEL_DIR = 'JPEGImages', 'SegmentationClass'


@register_dataset('GATECH')
class GATECH(SplitListDataset):
    """GATECH geometric-context video frames, 8 classes; raw 0 -> ignore, k -> k - 1.

    Layout: ``train.txt``, ``test.txt`` (ids), ``images/<id>.jpg``, ``labels/<id>.png``.
    As in the original, ``val`` and ``test`` both read **test.txt**.
    """
    NUM_CLASS = 8
    CLASSES = ('sky', 'ground', 'solid buildings etc', 'porous', 'humans', 'cars',
               'vertical Mix', 'main Mix')
    PALETTE = voc_palette(9)[1:]  # no palette in the original: VOC colours of raw values
    DIR_NAME = 'GATECH'
    SPLIT_LISTS = {'train': 'train.txt', 'val': 'test.txt', 'test': 'test.txt'}

    def _map_label(self, raw):
        return shift_down(raw)


@register_dataset('SiftFlow')
class SiftFlow(SplitListDataset):
    """SIFT Flow, 33 classes; raw 0 (unlabelled) -> ignore, k -> k - 1.

    Layout: ``train.txt``, ``val.txt`` (ids), ``images/<id>.jpg``, ``labels/<id>.png``.
    No test mode in the original.
    """
    NUM_CLASS = 33
    CLASSES = (
        'awning', 'balcony', 'bird', 'boat', 'bridge', 'building', 'bus', 'car', 'cow',
        'crosswalk', 'desert', 'door', 'fence', 'field', 'grass', 'moon', 'mountain', 'person',
        'plant', 'pole', 'river', 'road', 'rock', 'sand', 'sea', 'sidewalk', 'sign', 'sky',
        'staircase', 'streetlight', 'sun', 'tree', 'window',
    )
    PALETTE = voc_palette(34)[1:]  # no palette in the original: VOC colours of raw values
    DIR_NAME = 'SiftFlow'
    SPLIT_LISTS = {'train': 'train.txt', 'val': 'val.txt'}
    SUPPORTED_MODES = ('train', 'val', 'testval')

    def _map_label(self, raw):
        return shift_down(raw)


@register_dataset('StanfordBackground', aliases=('stanford',))
class StanfordBackground(SplitListDataset):
    """Stanford Background, 8 classes; raw 255 (unknown) -> ignore.

    Layout: ``trainList.txt``, ``evalList.txt`` (ids), ``images/<id>.jpg``,
    ``labels/<id>.png``. train -> trainList.txt, val -> evalList.txt.
    """
    NUM_CLASS = 8
    CLASSES = ('Sky', 'tree/bush', 'road/path', 'grass', 'water', 'building', 'mountain',
               'foreground object')
    PALETTE = voc_palette(8)  # no palette in the original
    DIR_NAME = 'Stanford10'
    SPLIT_LISTS = {'train': 'trainList.txt', 'val': 'evalList.txt'}

    def _map_label(self, raw):
        return void_to_ignore(raw, 255)


@register_dataset('SUNRGBD', aliases=('sun',))
class SUNRGBD(SplitListDataset):
    """SUN RGB-D (RGB only), 37 classes; raw 0 -> ignore, k -> k - 1.

    Layout: ``train.txt``, ``test.txt`` with "<image> <label>" lines naming files in
    ``images/`` and ``labels/``. As in the original, ``val`` and ``test`` read **test.txt**.
    """
    NUM_CLASS = 37
    CLASSES = (
        'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
        'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser',
        'pillow', 'mirror', 'floor_mat', 'clothes', 'ceiling', 'books', 'fridge', 'tv', 'paper',
        'towel', 'shower_curtain', 'box', 'whiteboard', 'person', 'night_stand', 'toilet', 'sink',
        'lamp', 'bathtub', 'bag',
    )
    PALETTE = voc_palette(38)[1:]  # no palette in the original: VOC colours of raw values
    DIR_NAME = 'SUNRGBD'
    SPLIT_LISTS = {'train': 'train.txt', 'val': 'test.txt', 'test': 'test.txt'}
    IMAGE_EXT = LABEL_EXT = ''
    PAIRED = True

    def _map_label(self, raw):
        return shift_down(raw)


@register_dataset('WeizmannHorses', aliases=('horses',))
class WeizmannHorses(SplitListDataset):
    """Weizmann Horses, binary (0 background, 1 horse), labels used as they are.

    Layout: ``train.txt``, ``val.txt`` of file names; the image is ``horse/<name>`` and its
    mask has the same name in ``mask/``.
    """
    NUM_CLASS = 2
    CLASSES = ('background', 'horse')
    PALETTE = np.array([(0, 0, 0), (255, 255, 255)], dtype=np.uint8)  # the original's
    DIR_NAME = 'WeizHorses'
    SPLIT_LISTS = {'train': 'train.txt', 'val': 'val.txt'}
    IMAGE_DIR, LABEL_DIR = 'horse', 'mask'
    IMAGE_EXT = LABEL_EXT = ''
