"""COCO-based sets: COCO-Stuff (182 classes, .mat labels) and MS-COCO drawn as the VOC classes."""
import json
import os
from pathlib import Path

import numpy as np

from .labels import voc_palette
from .base import DataError, SegmentationDataset, register_dataset
from .splitlist import SplitListDataset, read_mat_label, require_scipy_loadmat, shift_down
from .voc import VOC_CLASSES

__all__ = ['COCOStuff', 'MSCOCO']


@register_dataset('COCOStuff', aliases=('cocostuff',))
class COCOStuff(SplitListDataset):
    """COCO-Stuff with MATLAB labels (key ``S``): raw 0 (unlabelled) -> ignore, k -> k - 1.

    Layout (under ``<data_root>/COCOStuff``)::

        imageLists/train.txt, imageLists/test.txt   one id per line
        images/<id>.jpg
        annotations/<id>.mat

    As in the original, ``val`` reads **test.txt**; there is no test mode. Unlike the
    original, ``testval`` returns the mapped label (the original returned the raw mask).
    Needs scipy.
    """
    NUM_CLASS = 182
    CLASSES = (
        'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
        'traffic light', 'fire hydrant', 'street sign', 'stop sign', 'parking meter', 'bench',
        'bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe',
        'hat', 'backpack', 'umbrella', 'shoe', 'eye glasses', 'handbag', 'tie', 'suitcase',
        'frisbee', 'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove',
        'skateboard', 'surfboard', 'tennis racket', 'bottle', 'plate', 'wine glass', 'cup', 'fork',
        'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
        'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed', 'mirror',
        'dining table', 'window', 'desk', 'toilet', 'door', 'tv', 'laptop', 'mouse', 'remote',
        'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator',
        'blender', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush',
        'hair brush', 'banner', 'blanket', 'branch', 'bridge', 'building-other', 'bush', 'cabinet',
        'cage', 'cardboard', 'carpet', 'ceiling-other', 'ceiling-tile', 'cloth', 'clothes',
        'clouds', 'counter', 'cupboard', 'curtain', 'desk-stuff', 'dirt', 'door-stuff', 'fence',
        'floor-marble', 'floor-other', 'floor-stone', 'floor-tile', 'floor-wood', 'flower', 'fog',
        'food-other', 'fruit', 'furniture-other', 'grass', 'gravel', 'ground-other', 'hill',
        'house', 'leaves', 'light', 'mat', 'metal', 'mirror-stuff', 'moss', 'mountain', 'mud',
        'napkin', 'net', 'paper', 'pavement', 'pillow', 'plant-other', 'plastic', 'platform',
        'playingfield', 'railing', 'railroad', 'river', 'road', 'rock', 'roof', 'rug', 'salad',
        'sand', 'sea', 'shelf', 'sky-other', 'skyscraper', 'snow', 'solid-other', 'stairs',
        'stone', 'straw', 'structural-other', 'table', 'tent', 'textile-other', 'towel', 'tree',
        'vegetable', 'wall-brick', 'wall-concrete', 'wall-other', 'wall-panel', 'wall-stone',
        'wall-tile', 'wall-wood', 'water-other', 'waterdrops', 'window-blind', 'window-other',
        'wood',
    )
    # The original has no palette here; VOC colours of the raw values (class + 1).
    PALETTE = voc_palette(183)[1:]
    DIR_NAME = 'COCOStuff'
    SPLIT_LISTS = {'train': 'imageLists/train.txt', 'val': 'imageLists/test.txt'}
    IMAGE_DIR, LABEL_DIR = 'images', 'annotations'
    LABEL_EXT = '.mat'
    SUPPORTED_MODES = ('train', 'val', 'testval')

    def _get_pairs(self, split):
        require_scipy_loadmat('COCOStuff')  # fail at construction, not inside a loader worker
        return super()._get_pairs(split)

    def read_raw_label(self, path):
        return read_mat_label(path, 'S', dataset='COCOStuff')

    def _map_label(self, raw):
        return shift_down(raw)


def _import_pycocotools():
    try:
        from pycocotools import mask as mask_api
        from pycocotools.coco import COCO
    except ImportError:
        raise ImportError('MSCOCO builds its masks from the COCO instance annotations, which '
                          'needs pycocotools: pip install pycocotools') from None
    return COCO, mask_api


@register_dataset('MSCOCO', aliases=('coco',))
class MSCOCO(SegmentationDataset):
    """COCO 2017 instances rendered as 21-class VOC masks (for VOC pre-training).

    Layout (under ``<data_root>/COCO``)::

        annotations/instances_{train,val}2017.json
        train2017/*.jpg, val2017/*.jpg

    ``train`` uses train2017, every other split val2017 (as in the original). Only the 20
    VOC categories are drawn (first instance wins where they overlap), the rest is
    background 0, and images with <= 1000 labelled pixels are dropped; the kept ids are
    cached in ``annotations/<split>_ids.json`` (the original pickled them to ``*_ids.mx``).
    No test mode. Needs pycocotools.
    """
    # COCO category id of each VOC class, position = class index (0 = background).
    CAT_LIST = (0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72)
    MIN_PIXELS = 1000
    NUM_CLASS = 21
    CLASSES = VOC_CLASSES
    PALETTE = voc_palette(21)
    DIR_NAME = 'COCO'
    SUPPORTED_MODES = ('train', 'val', 'testval')

    @classmethod
    def _is_dataset_dir(cls, path):
        return (Path(path) / 'annotations' / 'instances_val2017.json').is_file()

    def _layout_hint(self):
        return ('expected annotations/instances_{train,val}2017.json and the images in '
                'train2017/ and val2017/')

    def _get_pairs(self, split):
        coco_cls, self._mask_api = _import_pycocotools()
        folder = 'train2017' if split == 'train' else 'val2017'
        ann_file = self.root / 'annotations' / f'instances_{folder}.json'
        if not ann_file.is_file():
            raise FileNotFoundError(f'MSCOCO: annotation file {ann_file} not found; '
                                    f'{self._layout_hint()}')
        self._coco = coco_cls(str(ann_file))
        ids = self._qualified_ids(self.root / 'annotations' / f'{folder[:-4]}_ids.json')
        # The "label" of a pair is the image itself: its mask is drawn from the annotations.
        self._img_ids = {}
        for img_id in ids:
            path = self.root / folder / self._coco.loadImgs(img_id)[0]['file_name']
            self._img_ids[path] = img_id
        return [(path, path) for path in self._img_ids]

    def _qualified_ids(self, cache):
        if cache.is_file():
            return json.loads(cache.read_text())
        ids = [i for i in self._coco.getImgIds()
               if (self._render(i) > 0).sum() > self.MIN_PIXELS]
        tmp = cache.with_suffix(f'.{os.getpid()}.tmp')  # one per process: ranks may race
        tmp.write_text(json.dumps(ids))
        os.replace(tmp, cache)  # atomic: nobody reads half a file
        return ids

    def _render(self, img_id):
        meta = self._coco.loadImgs(img_id)[0]
        h, w = meta['height'], meta['width']
        mask = np.zeros((h, w), dtype=np.uint8)
        for ann in self._coco.loadAnns(self._coco.getAnnIds(imgIds=img_id)):
            if ann['category_id'] not in self.CAT_LIST:
                continue
            m = self._mask_api.decode(self._mask_api.frPyObjects(ann['segmentation'], h, w))
            if m.ndim == 3:  # a polygon list decodes to one plane per part
                m = m.any(axis=2)
            mask[(mask == 0) & (m > 0)] = self.CAT_LIST.index(ann['category_id'])
        return mask

    def read_raw_label(self, path):
        img_id = self._img_ids.get(Path(path))
        if img_id is None:
            raise DataError(f'{path}: not an image of this MSCOCO split')
        return self._render(img_id)
