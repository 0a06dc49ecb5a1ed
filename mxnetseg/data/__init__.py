"""Datasets: a name registry over `SegmentationDataset` subclasses plus shared transforms.

    from mxnetseg.data import get_dataset
    ds = get_dataset('cityscapes', split='val', mode='testval')   # ./dataset/Cityscapes
    image, label = ds[0]   # float32 CHW normalised, int64 HW with IGNORE_INDEX (-1) for void
"""
from .base import (IGNORE_INDEX, DataError, SegmentationDataset, UnknownDatasetError,
                   get_dataset, get_dataset_class, list_datasets, read_image, read_label,
                   register_dataset, resolve_data_root)
from . import transforms
# Importing the dataset modules registers them.
from .cityscapes import CityCoarse, Cityscapes, train_id_to_label_id
from .toy import Toy, ensure_toy_dataset
from .ade20k import ADE20K
from .voc import SBD, PascalVOC, PascalVOCAug
from .nyuv2 import NYUv2
from .pcontext import PascalContext
from .camvid import CamVid, ListDataset
from .coco import MSCOCO, COCOStuff
from .mapillary import Mapillary
from .bdd import BDD100K
from .mhp import MHPV1
from .others import GATECH, SUNRGBD, Aeroscapes, SiftFlow, StanfordBackground, WeizmannHorses

__all__ = [
    'IGNORE_INDEX', 'DataError', 'UnknownDatasetError', 'SegmentationDataset', 'get_dataset',
    'get_dataset_class', 'list_datasets', 'register_dataset', 'resolve_data_root', 'read_image',
    'read_label', 'transforms', 'Cityscapes', 'train_id_to_label_id', 'Toy', 'ensure_toy_dataset',
    'CityCoarse', 'ADE20K', 'PascalVOC', 'PascalVOCAug', 'SBD', 'NYUv2', 'PascalContext',
    'CamVid', 'ListDataset', 'COCOStuff', 'MSCOCO', 'Mapillary', 'BDD100K', 'MHPV1', 'GATECH',
    'SUNRGBD', 'Aeroscapes', 'SiftFlow', 'StanfordBackground', 'WeizmannHorses',
]
