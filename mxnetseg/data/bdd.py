"""BDD100K semantic segmentation, the 19 Cityscapes classes as train ids."""
from pathlib import Path

from .base import SegmentationDataset, register_dataset
from .cityscapes import Cityscapes
from .splitlist import void_to_ignore

__all__ = ['BDD100K']


@register_dataset('BDD100K', aliases=('bdd',))
class BDD100K(SegmentationDataset):
    """BDD100K: labels are already train ids 0..18, 255 -> ignore.

    Layout (under ``<data_root>/BDD/seg``)::

        images/{train,val,test}/<name>.jpg
        labels/{train,val}/<name>_train_id.png

    Every image of ``images/<split>`` is used (sorted); a non-test split must have every
    label (the original raised on a missing one).
    """
    NUM_CLASS = 19
    CLASSES = Cityscapes.CLASSES
    PALETTE = Cityscapes.PALETTE  # the original draws BDD with the Cityscapes palette
    DIR_NAME = 'BDD/seg'

    @classmethod
    def _is_dataset_dir(cls, path):
        return (Path(path) / 'images').is_dir() and (Path(path) / 'labels').is_dir()

    def _layout_hint(self):
        return ('expected images/<split>/*.jpg and labels/<split>/<name>_train_id.png '
                '(BDD100K seg: train, val; test has images only)')

    def _get_pairs(self, split):
        img_dir = self._image_dir(self.root / 'images' / split)
        label_dir = self.root / 'labels' / split
        return self._pair_files(sorted(img_dir.rglob('*.jpg')),
                                lambda img: label_dir / f'{img.stem}_train_id.png', 'error')

    def _map_label(self, raw):
        return void_to_ignore(raw, 255)
