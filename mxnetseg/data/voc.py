"""Pascal VOC 2012 family: VOC itself, the VOC+SBD 'aug' set, and SBD, all 21 classes."""
from .labels import voc_palette
from .base import register_dataset
from .splitlist import SplitListDataset, read_mat_label, require_scipy_loadmat, void_to_ignore

__all__ = ['VOC_CLASSES', 'PascalVOC', 'PascalVOCAug', 'SBD']

VOC_CLASSES = (
    'background', 'airplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair',
    'cow', 'diningtable', 'dog', 'horse', 'motorcycle', 'person', 'potted-plant', 'sheep', 'sofa',
    'train', 'tv',
)
VOC_VOID = 255  # object boundaries and difficult regions in VOC-style index PNGs


class _VOCClasses(SplitListDataset):
    NUM_CLASS = 21
    CLASSES = VOC_CLASSES
    PALETTE = voc_palette(21)


@register_dataset('PascalVOC', aliases=('voc', 'pascal_voc'))
class PascalVOC(_VOCClasses):
    """Pascal VOC 2012 segmentation (palette-index PNGs, 255 = void -> ignore).

    Layout (under ``<data_root>/VOCdevkit/VOC2012``)::

        ImageSets/Segmentation/{trainval,val,test}.txt   one id per line
        JPEGImages/<id>.jpg
        SegmentationClass/<id>.png

    As in the original, split ``train`` reads **trainval.txt** (it includes val); the test
    list has no labels and is used in test mode.
    """
    DIR_NAME = 'VOCdevkit/VOC2012'
    SPLIT_LISTS = {'train': 'ImageSets/Segmentation/trainval.txt',
                   'val': 'ImageSets/Segmentation/val.txt',
                   'test': 'ImageSets/Segmentation/test.txt'}
    IMAGE_DIR, LABEL_DIR = 'JPEGImages', 'SegmentationClass'

    def _map_label(self, raw):
        return void_to_ignore(raw, VOC_VOID)


@register_dataset('PascalVOCAug', aliases=('vocaug', 'pascal_aug'))
class PascalVOCAug(_VOCClasses):
    """VOC 2012 merged with SBD (10582 train images), as index PNGs.

    Layout (under ``<data_root>/VOCdevkit/VOCAug``)::

        train_aug.txt, val.txt   "<image> <mask>" lines, names relative to the folders below
        img_aug/*.jpg
        cls_aug/*.png

    Splits: train -> train_aug.txt, val -> val.txt. No test mode in the original.
    """
    DIR_NAME = 'VOCdevkit/VOCAug'
    SPLIT_LISTS = {'train': 'train_aug.txt', 'val': 'val.txt'}
    IMAGE_DIR, LABEL_DIR = 'img_aug', 'cls_aug'
    IMAGE_EXT = LABEL_EXT = ''
    PAIRED = True
    SUPPORTED_MODES = ('train', 'val', 'testval')

    def _map_label(self, raw):
        return void_to_ignore(raw, VOC_VOID)


@register_dataset('SBD')
class SBD(_VOCClasses):
    """Semantic Boundaries Dataset, labels read from ``cls/<id>.mat`` (``GTcls.Segmentation``).

    Layout (under ``<data_root>/VOCdevkit/SBD``)::

        trainval.txt, val.txt   one id per line
        img/<id>.jpg
        cls/<id>.mat

    As in the original: train -> **trainval.txt**, val -> val.txt, labels used as they are,
    and only the train and val modes exist. Needs scipy (imported when the dataset is built).
    """
    DIR_NAME = 'VOCdevkit/SBD'
    SPLIT_LISTS = {'train': 'trainval.txt', 'val': 'val.txt'}
    IMAGE_DIR, LABEL_DIR = 'img', 'cls'
    LABEL_EXT = '.mat'
    SUPPORTED_MODES = ('train', 'val')

    def _get_pairs(self, split):
        require_scipy_loadmat('SBD')  # fail at construction, not inside a loader worker
        return super()._get_pairs(split)

    def read_raw_label(self, path):
        return read_mat_label(path, 'GTcls', 'Segmentation', dataset='SBD')
