"""Pascal Context, 59 classes (the 60th, background, is ignored)."""
from .labels import voc_palette
from .base import register_dataset
from .splitlist import SplitListDataset, shift_down

__all__ = ['PascalContext', 'PCONTEXT_RAW_IDS']

# The 60 ids of the full Pascal Context labelling kept by the 59-class benchmark, sorted;
# position = value in Labels_59 (0 = background). The prep script maps with this table.
PCONTEXT_RAW_IDS = (
    0, 2, 9, 18, 19, 22, 23, 25, 31, 33, 34, 44, 45, 46, 59, 65, 68, 72, 80, 85, 98, 104, 105,
    113, 115, 144, 158, 159, 162, 187, 189, 207, 220, 232, 258, 259, 260, 284, 295, 296, 308,
    324, 326, 347, 349, 354, 355, 360, 366, 368, 397, 415, 416, 420, 424, 427, 440, 445, 454,
    458,
)
_PREP_HINT = ('generate them from trainval_merged.json with scripts/prepare_pcontext.py '
              '(the Detail API step the original ran on first use)')


@register_dataset('PascalContext', aliases=('pcontext', 'pascal_context'))
class PascalContext(SplitListDataset):
    """Pascal Context with ``Labels_59`` PNGs: 0 (background) -> ignore, k -> k - 1.

    Layout (under ``<data_root>/PContext``)::

        train.txt, val.txt   one image id per line
        JPEGImages/<id>.jpg
        Labels_59/<id>.png   values 0..59 (see PCONTEXT_RAW_IDS)

    The original generated the lists and Labels_59 with the Detail API when missing; here
    they must be prepared beforehand. No test mode in the original. The usual 60-class mIoU
    is this 59-class mIoU x 59/60.
    """
    NUM_CLASS = 59
    CLASSES = (
        'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
        'table', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
        'tvmonitor', 'bag', 'bed', 'bench', 'book', 'building', 'cabinet', 'ceiling', 'cloth',
        'computer', 'cup', 'door', 'fence', 'floor', 'flower', 'food', 'grass', 'ground',
        'keyboard', 'light', 'mountain', 'mouse', 'curtain', 'platform', 'sign', 'plate', 'road',
        'rock', 'shelves', 'sidewalk', 'sky', 'snow', 'bedclothes', 'track', 'tree', 'truck',
        'wall', 'water', 'window', 'wood',
    )
    # The original has no palette here; VOC colours of the Labels_59 values (class + 1).
    PALETTE = voc_palette(60)[1:]
    DIR_NAME = 'PContext'
    SPLIT_LISTS = {'train': 'train.txt', 'val': 'val.txt'}
    IMAGE_DIR, LABEL_DIR = 'JPEGImages', 'Labels_59'
    SUPPORTED_MODES = ('train', 'val', 'testval')

    def _get_pairs(self, split):
        list_file = self._split_list(split)
        for needed in (self.root / self.LABEL_DIR, list_file):
            if self.root.is_dir() and not needed.exists():
                raise FileNotFoundError(f'PascalContext: {needed} not found; {_PREP_HINT}. '
                                        f'{self._layout_hint()}')
        return super()._get_pairs(split)

    def _map_label(self, raw):
        return shift_down(raw)
