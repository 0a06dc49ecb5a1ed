"""Every registered dataset: split discovery (with the original's oddities), exact label
mapping, class/palette metadata, test mode and missing-folder errors, on real samples from
../shared where they exist and on miniature trees in each dataset's layout otherwise."""
import importlib.util
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mxnetseg.data import DataError, get_dataset, get_dataset_class, list_datasets
from mxnetseg.data.mhp import MHPV1, mhp_resized_size
from mxnetseg.data.splitlist import SplitListDataset
from conftest import SHARED, need_module, need_shared

REALDATA = SHARED / 'realdata'
CAMVID = SHARED / 'camvid'
H, W = 6, 8  # miniature images: small enough for speed, big enough for 4 label values
HAS_SCIPY = importlib.util.find_spec('scipy') is not None
HAS_COCO = importlib.util.find_spec('pycocotools') is not None


_need = need_shared


_ENCODED = {}


def _write_image(path):
    """A random-looking image; the encoded bytes are cached per suffix (thousands for MHP)."""
    suffix = path.suffix or '.png'
    if suffix not in _ENCODED:
        img = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
        _ENCODED[suffix] = cv2.imencode(suffix, img)[1].tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_ENCODED[suffix])


def _label_array(values):
    return np.resize(np.asarray(values, dtype=np.uint8), H * W).reshape(H, W)


def _write_label(path, values, palette_png=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = _label_array(values)
    if path.suffix == '.mat':  # SBD / COCO-Stuff; a placeholder when scipy is absent
        if HAS_SCIPY:
            from scipy.io import savemat
            data = {'GTcls': {'Segmentation': arr.astype(np.float64)}, 'S': arr.astype(float)}
            savemat(str(path), data)
        else:
            path.write_bytes(b'not a mat file')
    elif palette_png:  # VOC-style 'P' PNG: the indices are the class ids
        im = Image.fromarray(arr, mode='P')
        im.putpalette([c for i in range(256) for c in (i, 255 - i, 0)])
        im.save(path)
    else:  # encoded once per value list: MHP needs thousands of identical masks
        key = tuple(np.asarray(values).tolist())
        if key not in _ENCODED:
            _ENCODED[key] = cv2.imencode('.png', arr)[1].tobytes()
        path.write_bytes(_ENCODED[key])


def _lists(root, lists):
    for name, lines in lists.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(''.join(f'{line}\n' for line in lines))


def _id_tree(root, lists, img_dir, lbl_dir, raw, img_ext='.jpg', lbl_ext='.png',
             unlabeled=(), **label_kw):
    """Split lists of ids plus one image and label per id (none for ids in ``unlabeled``)."""
    _lists(root, lists)
    for ident in {i for ids in lists.values() for i in ids}:
        _write_image(root / img_dir / f'{ident}{img_ext}')
        if ident not in unlabeled:
            _write_label(root / lbl_dir / f'{ident}{lbl_ext}', raw, **label_kw)


def _pair_tree(root, lists, img_dir, lbl_dir, raw):
    """Split lists of "image label" lines plus the files they name."""
    _lists(root, {name: [f'{i}.jpg {i}.png' for i in ids] for name, ids in lists.items()})
    for ident in {i for ids in lists.values() for i in ids}:
        _write_image(root / img_dir / f'{ident}.jpg')
        _write_label(root / lbl_dir / f'{ident}.png', raw)


def _city_tree(root, raw, splits=(('train', 'gtFine'), ('val', 'gtFine'), ('test', None))):
    for split, gt in splits:
        for stem in (f'{split}city_000000_000019', f'{split}city_000001_000019'):
            _write_image(root / 'leftImg8bit' / split / f'{split}city' / f'{stem}_leftImg8bit.png')
            if gt:
                _write_label(root / gt / split / f'{split}city' / f'{stem}_{gt}_labelIds.png', raw)


def _stems(ds):
    return [Path(img).name for img, _ in ds.pairs]


# ---------------------------------------------------------------------------- per-dataset specs
# build(root) writes the tree; splits: (split, mode, expected image names in order);
# raw / mapped: the label values written into every label file and, position by position,
# what each must become; test: (split, relative path of item 0) or None where the original
# has no test mode; kw: constructor kwargs; needs: an optional package.
def _b_ade(r):
    for folder, names in (('training', 'ab'), ('validation', 'c')):
        for n in names:
            _write_image(r / 'images' / folder / f'{n}.jpg')
            _write_label(r / 'annotations' / folder / f'{n}.png', [0, 1, 5, 150])
    _write_image(r / 'images' / 'validation' / 'd.jpg')  # no annotation: test mode only


def _b_mhp(r):
    names = [f'{i}.jpg' for i in range(1, 4002)]
    _lists(r, {'train_list.txt': names, 'test_list.txt': ['t.jpg']})
    for name in names + ['t.jpg']:
        _write_image(r / 'images' / name)
        _write_label(r / 'annotations' / f'{Path(name).stem}_01_01.png', [0, 1, 18])


def _b_voc(r):
    _id_tree(r, {'ImageSets/Segmentation/train.txt': ['a'],
                 'ImageSets/Segmentation/trainval.txt': ['a', 'b'],
                 'ImageSets/Segmentation/val.txt': ['b'],
                 'ImageSets/Segmentation/test.txt': ['t']},
             'JPEGImages', 'SegmentationClass', [0, 2, 15, 255], unlabeled=('t',),
             palette_png=True)


def _b_list(r):
    _lists(r, {'train.txt': ['images/a.jpg labels/a.png', 'images/b.jpg labels/b.png'],
               'val.txt': ['images/c.jpg labels/c.png'], 'test.txt': ['images/t.jpg']})
    for n in 'abct':
        _write_image(r / 'images' / f'{n}.jpg')
        if n != 't':
            _write_label(r / 'labels' / f'{n}.png', [0, 4, 9])


SPECS = {
    'ADE20K': dict(build=_b_ade, raw=[0, 1, 5, 150], mapped=[-1, 0, 4, 149],
                   splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg']),
                           ('anything', 'testval', ['c.jpg']),
                           ('test', None, ['c.jpg', 'd.jpg'])],
                   test=('val', 'images/validation/c.jpg')),
    'Aeroscapes': dict(build=lambda r: _id_tree(r, {'ImageSets/trn.txt': ['a', 'b'],
                                                    'ImageSets/val.txt': ['c']},
                                                'JPEGImages', 'SegmentationClass', [0, 3, 11]),
                       raw=[0, 3, 11], mapped=[0, 3, 11],
                       splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
                       test=('val', 'JPEGImages/c.jpg')),
    'BDD100K': dict(build=lambda r: [
        _write_image(r / 'images' / s / f'{n}.jpg') for s, n in
        (('train', 'a'), ('train', 'b'), ('val', 'c'), ('test', 't'))] + [
        _write_label(r / 'labels' / s / f'{n}_train_id.png', [0, 18, 255])
        for s, n in (('train', 'a'), ('train', 'b'), ('val', 'c'))],
        raw=[0, 18, 255], mapped=[0, 18, -1],
        splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
        test=('test', 'images/test/t.jpg')),
    'CamVid': dict(build=lambda r: _pair_tree(r, {'trainval.txt': ['a', 'b', 'c'],
                                                  'train.txt': ['a'], 'test.txt': ['t']},
                                              'images', 'labels', [0, 10, 11]),
                   raw=[0, 10, 11], mapped=[0, 10, -1],
                   splits=[('train', None, ['a.jpg', 'b.jpg', 'c.jpg']),
                           ('val', None, ['t.jpg']), ('test', None, ['t.jpg'])],
                   test=('test', 'images/t.jpg')),
    'CityCoarse': dict(build=lambda r: _city_tree(r, [0, 7, 26, 33],
                                                  (('train_extra', 'gtCoarse'), ('val', 'gtFine'))),
                       raw=[0, 7, 26, 33], mapped=[-1, 0, 13, 18],
                       splits=[('train', None, ['train_extracity_000000_000019_leftImg8bit.png',
                                                'train_extracity_000001_000019_leftImg8bit.png']),
                               ('val', None, ['valcity_000000_000019_leftImg8bit.png',
                                              'valcity_000001_000019_leftImg8bit.png'])],
                       test=None),
    'Cityscapes': dict(build=lambda r: _city_tree(r, [0, 7, 26, 33]),
                       raw=[0, 7, 26, 33], mapped=[-1, 0, 13, 18],
                       splits=[('val', None, ['valcity_000000_000019_leftImg8bit.png',
                                              'valcity_000001_000019_leftImg8bit.png'])],
                       test=('test', 'leftImg8bit/test/testcity/'
                                     'testcity_000000_000019_leftImg8bit.png')),
    'COCOStuff': dict(build=lambda r: _id_tree(r, {'imageLists/train.txt': ['a', 'b'],
                                                   'imageLists/test.txt': ['c']},
                                               'images', 'annotations', [0, 1, 182],
                                               lbl_ext='.mat'),
                      raw=[0, 1, 182], mapped=[-1, 0, 181], needs='scipy',
                      splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
                      test=None),
    'GATECH': dict(build=lambda r: _id_tree(r, {'train.txt': ['a', 'b'], 'test.txt': ['c']},
                                            'images', 'labels', [0, 1, 8]),
                   raw=[0, 1, 8], mapped=[-1, 0, 7],
                   splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg']),
                           ('test', None, ['c.jpg'])],
                   test=('test', 'images/c.jpg')),
    'list': dict(build=_b_list,
                 kw=dict(num_class=5, ignore_label=9), raw=[0, 4, 9], mapped=[0, 4, -1],
                 splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
                 test=('test', 'images/t.jpg')),
    'Mapillary': dict(build=lambda r: [
        _write_image(r / s / 'images' / f'{n}.jpg') for s, n in
        (('train', 'a'), ('train', 'b'), ('val', 'c'), ('test', 't'))] + [
        _write_label(r / s / 'labels' / f'{n}.png', [0, 64, 65])
        for s, n in (('train', 'a'), ('train', 'b'), ('val', 'c'))],
        raw=[0, 64, 65], mapped=[0, 64, -1],
        splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg']),
                ('trainval', None, ['a.jpg', 'b.jpg', 'c.jpg'])],
        test=('test', 'test/images/t.jpg')),
    'MHPV1': dict(build=_b_mhp, raw=[0, 1, 18], mapped=[-1, 0, 17], kw=dict(base_size=8),
                  splits=[('train', None, [f'{i}.jpg' for i in range(1, 3001)]),
                          ('val', None, [f'{i}.jpg' for i in range(3002, 4001)])],
                  test=('test', 'images/t.jpg')),
    'MSCOCO': dict(build=lambda r: None, needs='pycocotools', raw=None, splits=[], test=None),
    'NYUv2': dict(build=lambda r: _id_tree(r, {'train.txt': ['0', '1'], 'val.txt': ['2']},
                                           'images', 'labels40', [0, 1, 40]),
                  raw=[0, 1, 40], mapped=[-1, 0, 39],
                  splits=[('train', None, ['0.jpg', '1.jpg']), ('val', None, ['2.jpg'])],
                  test=('val', 'images/2.jpg')),
    'PascalContext': dict(build=lambda r: _id_tree(r, {'train.txt': ['a', 'b'], 'val.txt': ['c']},
                                                   'JPEGImages', 'Labels_59', [0, 1, 59]),
                          raw=[0, 1, 59], mapped=[-1, 0, 58],
                          splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
                          test=None),
    'PascalVOC': dict(build=_b_voc, raw=[0, 2, 15, 255], mapped=[0, 2, 15, -1],
                      splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['b.jpg']),
                              ('test', None, ['t.jpg'])],
                      test=('test', 'JPEGImages/t.jpg')),
    'PascalVOCAug': dict(build=lambda r: _pair_tree(r, {'train_aug.txt': ['a', 'b'],
                                                        'val.txt': ['c']},
                                                    'img_aug', 'cls_aug', [0, 20, 255]),
                         raw=[0, 20, 255], mapped=[0, 20, -1],
                         splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
                         test=None),
    'SBD': dict(build=lambda r: _id_tree(r, {'trainval.txt': ['a', 'b'], 'train.txt': ['a'],
                                             'val.txt': ['b']},
                                         'img', 'cls', [0, 5, 20], lbl_ext='.mat'),
                raw=[0, 5, 20], mapped=[0, 5, 20], needs='scipy',
                splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['b.jpg'])],
                test=None),
    'SiftFlow': dict(build=lambda r: _id_tree(r, {'train.txt': ['a', 'b'], 'val.txt': ['c']},
                                              'images', 'labels', [0, 1, 33]),
                     raw=[0, 1, 33], mapped=[-1, 0, 32],
                     splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
                     test=None),
    'StanfordBackground': dict(
        build=lambda r: _id_tree(r, {'trainList.txt': ['a', 'b'], 'evalList.txt': ['c']},
                                 'images', 'labels', [0, 7, 255]),
        raw=[0, 7, 255], mapped=[0, 7, -1],
        splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg'])],
        test=('val', 'images/c.jpg')),
    'SUNRGBD': dict(build=lambda r: _pair_tree(r, {'train.txt': ['a', 'b'], 'test.txt': ['c']},
                                               'images', 'labels', [0, 1, 37]),
                    raw=[0, 1, 37], mapped=[-1, 0, 36],
                    splits=[('train', None, ['a.jpg', 'b.jpg']), ('val', None, ['c.jpg']),
                            ('test', None, ['c.jpg'])],
                    test=('test', 'images/c.jpg')),
    'toy': dict(build=None, raw=None, splits=[], test=('test', None)),
    'WeizmannHorses': dict(
        build=lambda r: _id_tree(r, {'train.txt': ['a.png', 'b.png'], 'val.txt': ['c.png']},
                                 'horse', 'mask', [0, 1], img_ext='', lbl_ext=''),
        raw=[0, 1], mapped=[0, 1],
        splits=[('train', None, ['a.png', 'b.png']), ('val', None, ['c.png'])],
        test=('val', 'horse/c.png')),
}


def test_every_registered_dataset_has_a_spec():
    assert sorted(SPECS, key=str.lower) == list_datasets()


@pytest.mark.parametrize('name', list_datasets())
def test_dataset_contract(name, tmp_path, toy_root, monkeypatch):
    spec, cls = SPECS[name], get_dataset_class(name)
    kw = dict(spec.get('kw', {}), crop_size=4)
    # metadata: one class name and one colour per class
    if name != 'list':  # its classes come from the constructor; checked below
        assert cls.NUM_CLASS == len(cls.CLASSES) == len(cls.PALETTE) > 0
        assert cls.PALETTE.dtype == np.uint8 and cls.PALETTE.shape == (cls.NUM_CLASS, 3)
        assert all(isinstance(c, str) and c for c in cls.CLASSES)
    if name == 'toy':  # generated on demand, so no missing-folder error; see test_toy.py
        ds = get_dataset('toy', data_root=toy_root, split='test')
        assert isinstance(ds[0][1], str)
        return
    needs = spec.get('needs')
    if needs and not (HAS_SCIPY if needs == 'scipy' else HAS_COCO):
        spec['build'](tmp_path)
        with pytest.raises(ImportError, match=f'pip install {needs}'):
            get_dataset(name, root=tmp_path, split='val', **kw)
        if needs == 'scipy':  # the split logic needs no scipy: check it with the guard off
            monkeypatch.setattr(cls, '_get_pairs', SplitListDataset._get_pairs)
            for split, mode, expected in spec['splits']:
                ds = get_dataset(name, root=tmp_path, split=split, mode=mode, **kw)
                assert _stems(ds) == expected, (split, mode)
        return
    if name == 'MSCOCO':  # pycocotools installed: an empty root names the annotation file
        with pytest.raises(FileNotFoundError, match='instances_val2017.json'):
            get_dataset(name, root=tmp_path, split='val')
        return

    # missing folder: the error names the path the user gave
    nowhere = tmp_path / 'nowhere'
    with pytest.raises(FileNotFoundError, match=re.escape(str(nowhere))):
        get_dataset(name, root=nowhere, split='train', **kw)
    root = tmp_path / 'root'
    root.mkdir()
    spec['build'](root)

    # split discovery, including the original's oddities
    for split, mode, expected in spec['splits']:
        ds = get_dataset(name, root=root, split=split, mode=mode, **kw)
        assert _stems(ds) == expected, (split, mode)
    ds = get_dataset(name, root=root, split=spec['splits'][0][0], **kw)
    assert ds.num_class == len(ds.classes) == len(ds.palette)

    # exact mapping of the raw values written into every label file
    label = ds.load_label(ds.pairs[0][1])
    assert label.dtype == np.int16
    assert sorted(np.unique(label).tolist()) == sorted(set(spec['mapped']))
    raw = _label_array(spec['raw'])
    if name != 'MHPV1':  # MHP labels are pre-resized; checked in test_mhp_*
        expected = np.select([raw == v for v in spec['raw']], spec['mapped'])
        assert np.array_equal(label, expected)

    # a sample through __getitem__ in a mode every dataset has
    image, target = get_dataset(name, root=root, split='val', mode='val', **kw)[0]
    assert image.shape == (3, 4, 4) and image.dtype == torch.float32
    assert target.shape == (4, 4) and target.dtype == torch.int64
    assert set(target.unique().tolist()) <= set(spec['mapped'])

    # test mode: (image, path relative to the root) where the original has it, else an error
    if spec['test'] is None:
        with pytest.raises(ValueError, match="no 'test' mode"):
            get_dataset(name, root=root, split='val', mode='test', **kw)
    else:
        split, rel = spec['test']
        image, path = get_dataset(name, root=root, split=split, mode='test', **kw)[0]
        assert path == rel and image.ndim == 3


# ---------------------------------------------------------------------------- dataset specifics
def test_mhp_merges_person_masks_first_wins_and_matches_whole_stems(tmp_path):
    _lists(tmp_path, {'train_list.txt': ['1.jpg'], 'test_list.txt': ['1.jpg', '10.jpg']})
    for name in ('1.jpg', '10.jpg'):
        _write_image(tmp_path / 'images' / name)
    a, b = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    a[:3, :4], b[2:, 2:] = 5, 9  # overlap at rows 2, cols 2..3: the first person wins
    (tmp_path / 'annotations').mkdir()
    cv2.imwrite(str(tmp_path / 'annotations' / '1_02_01.png'), a)
    cv2.imwrite(str(tmp_path / 'annotations' / '1_02_02.png'), b)
    cv2.imwrite(str(tmp_path / 'annotations' / '10_01_01.png'), np.full((2, 2), 18, np.uint8))
    ds = MHPV1(root=tmp_path, split='test', mode='testval', base_size=H)
    merged = np.where(a > 0, a, b).astype(np.int64)
    assert np.array_equal(ds[0][1].numpy(), merged - 1)  # 0 (background) -> -1
    other = ds.load_label(ds.pairs[1][1])  # "10" has only its own (2x2, pre-resized) mask
    assert other.shape == mhp_resized_size(2, 2, H) and (other == 17).all()
    assert MHPV1.SPLITS['train'] == ('train_list.txt', 0, 3000)
    assert MHPV1.SPLITS['val'] == ('train_list.txt', 3001, 4000)  # entry 3000 is skipped


def test_mhp_pre_resize_short_side_base_long_side_multiple_of_8(tmp_path):
    assert mhp_resized_size(480, 640, 768) == (768, 1024)
    assert mhp_resized_size(500, 333, 768) == (1152, 768)  # 1153.2 -> 1153 -> 1152
    assert mhp_resized_size(300, 300, 768) == (768, 768)
    _lists(tmp_path, {'train_list.txt': ['1.jpg'], 'test_list.txt': ['1.jpg']})
    _write_image(tmp_path / 'images' / '1.jpg')
    _write_label(tmp_path / 'annotations' / '1_01_01.png', [0, 3])
    assert MHPV1(root=tmp_path, split='test').base_size == 768  # the original's default
    image, label = MHPV1(root=tmp_path, split='test', mode='testval', base_size=12)[0]
    assert image.shape == (3, 12, 16) and label.shape == (12, 16)
    image, _ = MHPV1(root=tmp_path, split='test', mode='test', base_size=12)[0]
    assert image.shape == (3, H, W)  # test mode keeps the original size


def test_pcontext_without_labels_59_says_how_to_make_them(tmp_path):
    _id_tree(tmp_path, {'train.txt': ['a'], 'val.txt': ['b']}, 'JPEGImages', 'Labels_59', [1])
    (tmp_path / 'Labels_59' / 'a.png').unlink()
    (tmp_path / 'Labels_59' / 'b.png').unlink()
    (tmp_path / 'Labels_59').rmdir()
    with pytest.raises(FileNotFoundError) as info:
        get_dataset('PascalContext', root=tmp_path, split='train')
    assert str(tmp_path / 'Labels_59') in str(info.value)
    assert 'scripts/prepare_pcontext.py' in str(info.value)
    assert len(get_dataset_class('pcontext').CLASSES) == 59


@pytest.mark.parametrize('name,lists,ext', [
    ('SBD', {'val.txt': ['a']}, ('img', 'cls')),
    ('COCOStuff', {'imageLists/test.txt': ['a']}, ('images', 'annotations'))])
def test_mat_datasets_without_scipy_say_pip_install(name, lists, ext, tmp_path, monkeypatch):
    _id_tree(tmp_path, lists, ext[0], ext[1], [1], lbl_ext='.mat')
    monkeypatch.setitem(sys.modules, 'scipy', None)  # makes "import scipy.io" fail
    monkeypatch.setitem(sys.modules, 'scipy.io', None)
    with pytest.raises(ImportError, match=f'{name}.*pip install scipy'):
        get_dataset(name, root=tmp_path, split='val')


def test_mat_label_reading(tmp_path):
    need_module('scipy.io')
    _id_tree(tmp_path, {'val.txt': ['a']}, 'img', 'cls', [0, 5, 20], lbl_ext='.mat')
    ds = get_dataset('SBD', root=tmp_path, split='val')
    assert np.array_equal(ds.load_label(ds.pairs[0][1]), _label_array([0, 5, 20]))
    (tmp_path / 'cls' / 'a.mat').write_bytes(b'garbage')
    with pytest.raises(DataError, match='a.mat'):
        ds.load_label(ds.pairs[0][1])


def test_mscoco_needs_pycocotools_and_maps_voc_categories(tmp_path, monkeypatch):
    cls = get_dataset_class('MSCOCO')
    assert len(cls.CAT_LIST) == cls.NUM_CLASS == 21 and cls.CLASSES[15] == 'person'
    assert cls.CAT_LIST[15] == 1 and cls.CAT_LIST[0] == 0  # COCO 'person' is category 1
    assert cls.CLASSES == get_dataset_class('PascalVOC').CLASSES
    monkeypatch.setitem(sys.modules, 'pycocotools', None)
    with pytest.raises(ImportError, match='pip install pycocotools'):
        get_dataset('coco', root=tmp_path, split='val')


def test_palettes_follow_the_original():
    ade, cam = get_dataset_class('ADE20K'), get_dataset_class('CamVid')
    assert ade.PALETTE[0].tolist() == [120, 120, 120]  # wall; GluonCV's entry 0 is 'other'
    assert ade.PALETTE[-1].tolist() == [92, 0, 255]
    assert cam.PALETTE[0].tolist() == [128, 128, 128] and cam.PALETTE[3].tolist() == [128, 64, 128]
    assert get_dataset_class('Mapillary').PALETTE[13].tolist() == [128, 64, 128]  # Road
    assert np.array_equal(get_dataset_class('BDD100K').PALETTE,
                          get_dataset_class('Cityscapes').PALETTE)
    with Image.open(_need(REALDATA / 'fcn_berkeleyvision_voc_demo_and_classlists/demo/label.png')) as im:
        real = np.array(im.getpalette()[:63], np.uint8).reshape(21, 3)
    assert np.array_equal(get_dataset_class('voc').PALETTE, real)


def test_modes_the_original_lacks_are_refused(tmp_path):
    for name, mode in (('SBD', 'testval'), ('CityCoarse', 'testval'), ('PascalVOCAug', 'test'),
                       ('SiftFlow', 'test'), ('COCOStuff', 'test'), ('MSCOCO', 'test')):
        with pytest.raises(ValueError, match=f"{name} has no '{mode}' mode"):
            get_dataset(name, root=tmp_path, split='val', mode=mode)


def test_unknown_split_names_the_original_splits(tmp_path):
    with pytest.raises(ValueError, match=r"unknown split 'trainval'.*\('train', 'val'\)"):
        get_dataset('PascalVOCAug', root=tmp_path, split='trainval')
    with pytest.raises(ValueError, match='unknown split'):
        get_dataset('Mapillary', root=tmp_path, split='extra', mode='val')


def test_list_files_errors_name_the_file(tmp_path):
    _pair_tree(tmp_path, {'train.txt': ['a'], 'test.txt': ['a']}, 'images', 'labels', [1])
    (tmp_path / 'train.txt').write_text('a.jpg a.png extra\n')
    with pytest.raises(DataError, match=re.escape(str(tmp_path / 'train.txt'))):
        get_dataset('SUNRGBD', root=tmp_path, split='train')
    (tmp_path / 'labels' / 'a.png').unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'labels' / 'a.png'))):
        get_dataset('SUNRGBD', root=tmp_path, split='val')
    ds = get_dataset('SUNRGBD', root=tmp_path, split='test')  # test mode needs no label
    assert ds.pairs[0][1] is None and ds[0][1] == 'images/a.jpg'


def test_list_dataset_arguments(tmp_path):
    with pytest.raises(ValueError, match='num_class'):
        get_dataset('folder', root=tmp_path)
    with pytest.raises(ValueError, match='2 class names'):
        get_dataset('list', root=tmp_path, num_class=3, classes=('a', 'b'))
    _b_list(tmp_path)
    ds = get_dataset('list', root=tmp_path, split='val', mode='testval', num_class=10,
                     ignore_label=None, classes=[str(i) for i in range(10)])
    assert sorted(ds[0][1].unique().tolist()) == [0, 4, 9] and ds.classes[9] == '9'
    ds = get_dataset('list', data_root=tmp_path, split='val', num_class=5)  # default 255
    with pytest.raises(DataError, match=r'\[9\]'):
        ds.load_label(ds.pairs[0][1])


def test_camvid_low_resolution_folder(tmp_path):
    _pair_tree(tmp_path / 'CamVid', {'test.txt': ['a']}, 'images', 'labels', [1])
    ds = get_dataset('CamVid', data_root=tmp_path, split='test', full_resolution=False)
    assert ds.root == tmp_path / 'CamVid'
    with pytest.raises(FileNotFoundError, match='CamVidFull'):
        get_dataset('CamVid', data_root=tmp_path, split='test')


@pytest.mark.parametrize('name,image,label,skips', [
    ('ADE20K', 'images/training/{}.jpg', 'annotations/training/{}.png', True),
    ('BDD100K', 'images/train/{}.jpg', 'labels/train/{}_train_id.png', False),
    ('Mapillary', 'train/images/{}.jpg', 'train/labels/{}.png', False)])
def test_folder_walks_with_an_unlabelled_image(tmp_path, name, image, label, skips):
    with pytest.raises(FileNotFoundError, match=f'{name}: image folder .* not found'):
        get_dataset(name, root=tmp_path, split='train')
    for n in ('a', 'b'):
        _write_image(tmp_path / image.format(n))
    _write_label(tmp_path / label.format('a'), [0])
    if skips:    # the original's ADE20K walk skips it
        assert [p[0].name for p in get_dataset(name, root=tmp_path, split='train').pairs] == \
            ['a.jpg']
    else:        # BDD100K and Mapillary: an error naming both files
        with pytest.raises(FileNotFoundError, match=rf"{name}: no label .*{label.format('b')}"
                                                    rf" for image .*{image.format('b')}"):
            get_dataset(name, root=tmp_path, split='train')
    test = get_dataset(name, root=tmp_path, split='train', mode='test')
    assert [(p[0].name, p[1] is None) for p in test.pairs] == [('a.jpg', False), ('b.jpg', True)]
