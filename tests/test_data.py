"""Dataset registry, data roots, decoding errors, Cityscapes on real and miniature trees, palettes."""
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mxnetseg.data import (IGNORE_INDEX, DataError, SegmentationDataset, get_dataset,
                           get_dataset_class, list_datasets, read_label, resolve_data_root)
from mxnetseg.data.cityscapes import (LABEL_ID_TO_TRAIN_ID, TRAIN_ID_TO_LABEL_ID, Cityscapes,
                                      train_id_to_label_id)
from mxnetseg.tools.visualize import colorize, voc_palette
from conftest import SHARED, need_module, need_shared

REALDATA = SHARED / 'realdata'
CITY_SAMPLE = REALDATA / 'mmsegmentation_tests/tests/data/pseudo_cityscapes_dataset'
CITY_LABELS_JSON = REALDATA / 'cityscapesscripts_official/cityscapes_labels.json'
VOC_LABEL = REALDATA / 'fcn_berkeleyvision_voc_demo_and_classlists/demo/label.png'


_need = need_shared


def _official_table():
    labels = json.loads(_need(CITY_LABELS_JSON).read_text())['labels']
    lut = np.full(256, 255, dtype=np.int64)
    for entry in labels:
        if 0 <= entry['id'] < 256:
            lut[entry['id']] = entry['trainId']
    return labels, np.where(lut == 255, IGNORE_INDEX, lut)


def _write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def _mini_cityscapes(root, h=32, w=64):
    """leftImg8bit/{train,val,test}/<city>/; labels for train/val; one train image unlabeled."""
    rng = np.random.default_rng(0)
    names = {'train': [('aachen', 'aachen_000000_000019'), ('aachen', 'aachen_000001_000019'),
                       ('bremen', 'bremen_000000_000019'), ('bremen', 'bremen_000009_000019')],
             'val': [('lindau', 'lindau_000000_000019')],
             'test': [('berlin', 'berlin_000000_000019'), ('bonn', 'bonn_000000_000019')]}
    valid_ids = np.array([0, 1, 7, 8, 11, 26, 33], np.uint8)
    for split, items in names.items():
        for city, stem in items:
            img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
            _write_png(root / 'leftImg8bit' / split / city / f'{stem}_leftImg8bit.png', img)
            if split != 'test' and stem != 'bremen_000009_000019':
                lbl = valid_ids[rng.integers(0, len(valid_ids), (h, w))]
                _write_png(root / 'gtFine' / split / city / f'{stem}_gtFine_labelIds.png', lbl)
    return root


# ---------------------------------------------------------------------------- registry / roots
def test_registry_names_are_case_insensitive():
    assert {'Cityscapes', 'toy'} <= set(list_datasets())
    assert get_dataset_class('cityscapes') is get_dataset_class('CITYSCAPES') is Cityscapes
    assert get_dataset_class('citys') is Cityscapes


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(KeyError) as info:
        get_dataset('citiscapes')
    message = str(info.value)
    assert "did you mean 'cityscapes'" in message.lower() and 'toy' in message
    with pytest.raises(ValueError):  # the same error is also a ValueError
        get_dataset_class('nope')


def test_resolve_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv('MXNETSEG_DATA', raising=False)
    assert resolve_data_root() == Path('dataset')
    monkeypatch.setenv('MXNETSEG_DATA', str(tmp_path / 'env'))
    assert resolve_data_root() == tmp_path / 'env'
    assert resolve_data_root(tmp_path / 'arg') == tmp_path / 'arg'


def test_dataset_root_under_data_root_or_forgiving(tmp_path):
    _mini_cityscapes(tmp_path / 'data' / 'Cityscapes')
    nested = Cityscapes(split='val', data_root=tmp_path / 'data')
    direct = Cityscapes(split='val', data_root=tmp_path / 'data' / 'Cityscapes')
    explicit = get_dataset('cityscapes', root=tmp_path / 'data' / 'Cityscapes', split='val')
    assert nested.root == direct.root == explicit.root == tmp_path / 'data' / 'Cityscapes'


# ---------------------------------------------------------------------------- Cityscapes
def test_lut_matches_official_table():
    labels, official = _official_table()
    assert np.array_equal(LABEL_ID_TO_TRAIN_ID[1:], official[:34])
    assert LABEL_ID_TO_TRAIN_ID[0] == IGNORE_INDEX  # labelId -1 (license plate)
    by_train = {e['trainId']: e for e in labels if e['trainId'] != 255}
    assert Cityscapes.CLASSES == tuple(by_train[i]['name'] for i in range(19))
    assert np.array_equal(Cityscapes.PALETTE, np.array([by_train[i]['color'] for i in range(19)]))
    assert TRAIN_ID_TO_LABEL_ID.tolist() == [by_train[i]['id'] for i in range(19)]
    pred = np.array([[0, 5, 18], [-1, 3, 12]])
    assert train_id_to_label_id(pred).tolist() == [[7, 17, 33], [0, 12, 25]]


def test_real_cityscapes_sample_labels_are_official_train_ids():
    root = _need(CITY_SAMPLE)
    _, official = _official_table()
    ds = get_dataset('Cityscapes', root=root, split='val', mode='testval')
    assert len(ds) == 1 and ds.pairs[0][1].name.endswith('_gtFine_labelIds.png')
    image, label = ds[0]
    assert image.shape == (3, 128, 256) and image.dtype == torch.float32
    assert label.shape == (128, 256) and label.dtype == torch.int64
    raw = np.array(Image.open(ds.pairs[0][1]))
    assert np.array_equal(label.numpy(), official[raw])
    assert sorted(np.unique(label.numpy()).tolist()) == [-1, 0, 1, 2, 4, 5, 7, 8, 10, 11, 13]


def test_real_cityscapes_sample_val_and_test_modes():
    root = _need(CITY_SAMPLE)
    image, label = get_dataset('cityscapes', root=root, split='val', crop_size=64)[0]
    assert image.shape == (3, 64, 64) and label.shape == (64, 64)
    image, rel = get_dataset('cityscapes', root=root, split='val', mode='test')[0]
    assert image.shape == (3, 128, 256)
    assert rel == 'leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png'


def test_cityscapes_pairing_trainval_and_test_mode(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes')
    train = Cityscapes(root=root, split='train')
    val = Cityscapes(root=root, split='val')
    trainval = Cityscapes(root=root, split='trainval')
    assert trainval.mode == 'train'
    assert [p[0].name for p in train.pairs] == [  # sorted; the unlabeled bremen_000009 is dropped
        'aachen_000000_000019_leftImg8bit.png', 'aachen_000001_000019_leftImg8bit.png',
        'bremen_000000_000019_leftImg8bit.png']
    assert trainval.pairs == train.pairs + val.pairs
    for img, lbl in trainval.pairs:
        assert lbl.name == img.name.replace('_leftImg8bit.png', '_gtFine_labelIds.png')
        assert img.parent.name == lbl.parent.name
    test = Cityscapes(root=root, split='test')
    assert len(test) == 2 and all(lbl is None for _, lbl in test.pairs)
    assert test[1][1] == 'leftImg8bit/test/bonn/bonn_000000_000019_leftImg8bit.png'
    assert len(Cityscapes(root=root, split='train', mode='test')) == 4  # lists unlabeled too


def test_labels_need_label_folder(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes')
    with pytest.raises(FileNotFoundError, match='gtFine'):
        Cityscapes(root=root, split='test', mode='testval')


def test_missing_split_names_the_path(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes')
    with pytest.raises(ValueError, match='pass mode='):  # no mode can be inferred from 'extra'
        Cityscapes(root=root, split='extra')
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / 'leftImg8bit' / 'bogus'))):
        Cityscapes(root=root, split='bogus', mode='val')
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'nowhere'))):
        get_dataset('cityscapes', data_root=tmp_path / 'nowhere', split='val')


def test_empty_split_is_an_error(tmp_path):
    (tmp_path / 'C' / 'leftImg8bit' / 'val').mkdir(parents=True)
    (tmp_path / 'C' / 'gtFine' / 'val').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match='no images'):
        Cityscapes(root=tmp_path / 'C', split='val')


# ---------------------------------------------------------------------------- bad files
def test_truncated_image_raises_data_error_naming_file(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes')
    ds = Cityscapes(root=root, split='val', mode='testval')
    img_path = ds.pairs[0][0]
    img_path.write_bytes(img_path.read_bytes()[:200])
    with pytest.raises(DataError, match=img_path.name):
        ds[0]


def test_out_of_range_label_id_names_file_and_value(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes')
    ds = Cityscapes(root=root, split='val', mode='testval')
    lbl_path = ds.pairs[0][1]
    raw = cv2.imread(str(lbl_path), cv2.IMREAD_UNCHANGED)
    raw[3, 4] = 200
    _write_png(lbl_path, raw)
    with pytest.raises(DataError) as info:
        ds[0]
    assert str(lbl_path) in str(info.value) and '200' in str(info.value)


def test_size_mismatch_names_both_files(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes')
    ds = Cityscapes(root=root, split='val')
    img_path, lbl_path = ds.pairs[0]
    _write_png(lbl_path, np.zeros((10, 10), np.uint8))
    with pytest.raises(DataError) as info:
        ds[0]
    assert str(img_path) in str(info.value) and str(lbl_path) in str(info.value)


def test_empty_label_file_is_a_data_error(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes')
    ds = Cityscapes(root=root, split='val', mode='testval')
    ds.pairs[0][1].write_bytes(b'')
    with pytest.raises(DataError, match='empty'):
        ds[0]


class _Tiny(SegmentationDataset):
    NUM_CLASS = 3

    def __init__(self, files, **kwargs):
        self._files = files
        super().__init__(root=files[0][0].parent, **kwargs)

    def _get_pairs(self, split):
        return self._files


def test_values_beyond_num_class_are_rejected_after_mapping(tmp_path):
    _write_png(tmp_path / 'a.png', np.zeros((8, 8, 3), np.uint8))
    _write_png(tmp_path / 'a_l.png', np.full((8, 8), 7, np.uint8))
    ds = _Tiny([(tmp_path / 'a.png', tmp_path / 'a_l.png')], mode='testval')
    with pytest.raises(DataError, match=r'\[7\]'):
        ds[0]


def test_train_samples_depend_only_on_seed_epoch_index(tmp_path):
    root = _mini_cityscapes(tmp_path / 'Cityscapes', h=64, w=128)
    a = Cityscapes(root=root, split='train', crop_size=32, base_size=64, seed=3)
    b = Cityscapes(root=root, split='train', crop_size=32, base_size=64, seed=3)
    x1, y1 = a[1]
    b[0], b[2]  # other samples drawn in between must not matter
    x2, y2 = b[1]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    a.set_epoch(1)
    x3, _ = a[1]
    assert not torch.equal(x1, x3)
    assert y1.dtype == torch.int64 and set(y1.unique().tolist()) <= set(range(-1, 19))


# ---------------------------------------------------------------------------- palettes
def test_voc_palette_matches_real_voc_png():
    with Image.open(_need(VOC_LABEL)) as im:
        assert im.mode == 'P'
        real = np.array(im.getpalette()[:768], np.uint8).reshape(-1, 3)
    assert np.array_equal(voc_palette(256)[:len(real)], real)
    assert voc_palette(3).tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    assert sorted(np.unique(read_label(VOC_LABEL)).tolist()) == [0, 2, 15, 255]


def test_colorize_round_trip(tmp_path):
    pred = np.array([[0, 1, 18], [-1, 5, 7]])
    colorize(pred, Cityscapes.PALETTE).save(tmp_path / 'p.png')
    with Image.open(tmp_path / 'p.png') as im:
        assert im.mode == 'P'
        back = np.array(im)
        colours = np.array(im.convert('RGB'))
    assert back.tolist() == [[0, 1, 18], [255, 5, 7]]
    assert colours[0, 2].tolist() == Cityscapes.PALETTE[18].tolist()
    assert colours[1, 0].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match='19'):
        colorize(np.array([[19]]), Cityscapes.PALETTE)


def test_cityscapes_tables_equal_cityscapesscripts():
    """labelId -> trainId, trainId -> labelId and the palette equal the official package's."""
    labels = need_module('cityscapesscripts.helpers.labels').labels
    from mxnetseg.data.cityscapes import (LABEL_ID_TO_TRAIN_ID, TRAIN_ID_TO_LABEL_ID,
                                          Cityscapes)
    evaluated = [lab for lab in labels if lab.id >= 0 and not lab.ignoreInEval]
    assert len(evaluated) == 19
    for lab in labels:
        if lab.id < 0:
            continue
        expected = -1 if lab.ignoreInEval else lab.trainId
        assert LABEL_ID_TO_TRAIN_ID[lab.id + 1] == expected, lab.name
    for lab in evaluated:
        assert TRAIN_ID_TO_LABEL_ID[lab.trainId] == lab.id
        assert tuple(Cityscapes.PALETTE[lab.trainId]) == lab.color, lab.name
        assert Cityscapes.CLASSES[lab.trainId] == lab.name


def test_unknown_dataset_option_is_a_clear_error():
    from mxnetseg.data import DataError
    with pytest.raises(DataError, match=r"'CamVid' has no option 'ful_resolution'.*"
                                        r"Did you mean 'full_resolution'"):
        get_dataset('camvid', root='/nonexistent', ful_resolution=True)
    with pytest.raises(TypeError):   # still the TypeError a wrong keyword argument is
        get_dataset('toy', strict=False)   # only split-list datasets take strict
