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
from .cityscapes import Cityscapes, train_id_to_label_id
from .toy import Toy, ensure_toy_dataset

__all__ = [
    'IGNORE_INDEX', 'DataError', 'UnknownDatasetError', 'SegmentationDataset', 'get_dataset',
    'get_dataset_class', 'list_datasets', 'register_dataset', 'resolve_data_root', 'read_image',
    'read_label', 'transforms', 'Cityscapes', 'train_id_to_label_id', 'Toy', 'ensure_toy_dataset',
]
