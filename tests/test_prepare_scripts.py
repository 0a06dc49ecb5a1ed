"""scripts/prepare_*.py on tiny generated inputs: outputs load through the registered
dataset, existing outputs are refused without --force, and --force rebuilds them."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

SCRIPTS = Path(__file__).resolve().parents[1] / 'scripts'
sys.path.insert(0, str(SCRIPTS))

import _prep  # noqa: E402
import prepare_cityscapes  # noqa: E402
import prepare_nyuv2  # noqa: E402
import prepare_pcontext  # noqa: E402
import prepare_vocaug  # noqa: E402

from conftest import SHARED, need_module, need_shared  # noqa: E402
from mxnetseg.data import get_dataset  # noqa: E402

H, W = 6, 8


def _img(path, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((H, W, 3), value, np.uint8))


def _lines(path, ids):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(f'{i}\n' for i in ids))


@pytest.mark.parametrize('module', [prepare_vocaug, prepare_nyuv2, prepare_cityscapes,
                                    prepare_pcontext])
def test_help(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        module.main(['--help'])
    assert exit_.value.code == 0 and '--force' in capsys.readouterr().out


def _voc_sbd(tmp_path):
    savemat = need_module('scipy.io').savemat
    voc, sbd = tmp_path / 'VOC2012', tmp_path / 'SBD'
    _lines(voc / 'ImageSets/Segmentation/train.txt', ['a', 'b'])
    _lines(voc / 'ImageSets/Segmentation/val.txt', ['c'])
    _lines(sbd / 'train.txt', ['b', 'd', 'c'])  # c is VOC val: must stay out of train_aug
    _lines(sbd / 'val.txt', ['e'])
    for ident in 'abc':
        _img(voc / 'JPEGImages' / f'{ident}.jpg')
        lbl = np.full((H, W), 5, np.uint8)
        lbl[0] = 255  # void border
        im = Image.fromarray(lbl, mode='P')
        im.putpalette([c for i in range(256) for c in (i, 0, 255 - i)])
        (voc / 'SegmentationClass').mkdir(exist_ok=True)
        im.save(voc / 'SegmentationClass' / f'{ident}.png')
    for ident in 'bcde':
        if ident in 'de':
            _img(sbd / 'img' / f'{ident}.jpg')
        (sbd / 'cls').mkdir(exist_ok=True)
        savemat(str(sbd / 'cls' / f'{ident}.mat'),
                {'GTcls': {'Segmentation': np.full((H, W), 7.0)}})
    return voc, sbd


def test_vocaug_merges_voc_over_sbd_and_loads(tmp_path, capsys):
    voc, sbd = _voc_sbd(tmp_path)
    out = tmp_path / 'VOCAug'
    args = ['--voc', str(voc), '--sbd', str(sbd), '--out', str(out), '--workers', '2']
    assert _prep.run(prepare_vocaug.main, args) == 0
    assert (out / 'train_aug.txt').read_text().split() == [
        f'{i}.{e}' for i in 'abde' for e in ('jpg', 'png')]
    assert (out / 'val.txt').read_text() == 'c.jpg c.png\n'
    assert len((out / 'trainval_aug.txt').read_text().splitlines()) == 5
    ds = get_dataset('vocaug', root=out, split='train', mode='testval')
    labels = {p[0].stem: ds.load_label(p[1]) for p in ds.pairs}
    assert set(labels) == set('abde')
    assert (labels['b'][1:] == 5).all() and (labels['b'][0] == -1).all()  # VOC overrides SBD
    assert (labels['d'] == 7).all()
    assert len(get_dataset('vocaug', root=out, split='val', mode='testval')) == 1

    capsys.readouterr()
    assert _prep.run(prepare_vocaug.main, args) == 1  # refuses to overwrite
    assert '--force' in capsys.readouterr().err
    (out / 'cls_aug' / 'a.png').unlink()
    assert _prep.run(prepare_vocaug.main, args + ['--force']) == 0
    assert (out / 'cls_aug' / 'a.png').is_file()


def test_vocaug_names_missing_sources(tmp_path, capsys):
    voc, sbd = _voc_sbd(tmp_path)
    (sbd / 'cls' / 'e.mat').unlink()
    args = ['--voc', str(voc), '--sbd', str(sbd), '--out', str(tmp_path / 'o')]
    assert _prep.run(prepare_vocaug.main, args) == 1
    assert 'e.mat' in capsys.readouterr().err and not (tmp_path / 'o').exists()


def _nyu_src(tmp_path, n=3):
    savemat = need_module('scipy.io').savemat
    src = tmp_path / 'src'
    src.mkdir()
    labels = np.zeros((H, W, n), np.uint8)
    labels[:, : W // 2] = 40  # left half class 40, right half unlabelled
    savemat(str(src / 'labels40.mat'), {'labels40': labels})
    savemat(str(src / 'splits.mat'), {'trainNdxs': np.array([[1], [3]]),
                                      'testNdxs': np.array([[2]])})
    return src


def _frames(n=3):
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:, : W // 2] = 250  # bright left half: orientation check
    return [(i, frame) for i in range(n)]


def test_nyuv2_outputs_load_and_keep_orientation(tmp_path, monkeypatch, capsys):
    src = _nyu_src(tmp_path)
    (src / 'nyu_depth_v2_labeled.mat').write_bytes(b'stand-in; frames come from the stub')
    monkeypatch.setattr(prepare_nyuv2, 'iter_frames', lambda path: iter(_frames()))
    out = tmp_path / 'NYUv2'
    args = ['--src', str(src), '--out', str(out), '--workers', '2']
    assert _prep.run(prepare_nyuv2.main, args) == 0
    assert (out / 'train.txt').read_text() == '0\n2\n' and (out / 'val.txt').read_text() == '1\n'
    ds = get_dataset('nyuv2', root=out, split='train', mode='testval')
    image, label = ds[0]
    assert len(ds) == 2 and image.shape == (3, H, W)
    assert (label[:, : W // 2] == 39).all() and (label[:, W // 2:] == -1).all()
    assert image[0, :, 0].mean() > image[0, :, -1].mean()  # bright side stays left
    assert _prep.run(prepare_nyuv2.main, args) == 1
    assert _prep.run(prepare_nyuv2.main, args + ['--force', '--mirror-as-original']) == 0
    assert (get_dataset('nyuv2', root=out, split='val', mode='testval')[0][1][:, 0] == -1).all()


def test_nyuv2_without_h5py_says_pip_install(tmp_path, monkeypatch, capsys):
    src = _nyu_src(tmp_path)
    (src / 'nyu_depth_v2_labeled.mat').write_bytes(b'x')
    monkeypatch.setitem(sys.modules, 'h5py', None)  # import h5py -> ImportError
    assert _prep.run(prepare_nyuv2.main, ['--src', str(src), '--out', str(tmp_path / 'o')]) == 1
    assert 'pip install h5py' in capsys.readouterr().err


def test_nyuv2_reads_a_real_hdf5_frame_file(tmp_path):
    h5py = need_module('h5py')
    src = _nyu_src(tmp_path)
    frames = np.stack([f for _, f in _frames()], axis=-1)  # MATLAB (H, W, 3, N)
    with h5py.File(src / 'nyu_depth_v2_labeled.mat', 'w') as f:
        f['images'] = frames.transpose()  # what MATLAB v7.3 writes: axes reversed
    got = dict(prepare_nyuv2.iter_frames(src / 'nyu_depth_v2_labeled.mat'))
    assert np.array_equal(got[0], frames[..., 0])
    labels = np.arange(H * W * 2, dtype=np.uint8).reshape(H, W, 2)
    with h5py.File(tmp_path / 'v73.mat', 'w') as f:  # a v7.3 labels40.mat: scipy refuses it
        f['labels40'] = labels.transpose()
    assert np.array_equal(prepare_nyuv2.load_mat_array(tmp_path / 'v73.mat', 'labels40'), labels)


def test_cityscapes_train_ids(tmp_path, capsys):
    root = tmp_path / 'Cityscapes'
    raw = np.resize(np.uint8([0, 7, 8, 26, 33, 3]), (H, W))
    src = root / 'gtFine/val/c/c_000000_000019_gtFine_labelIds.png'
    src.parent.mkdir(parents=True)
    assert cv2.imwrite(str(src), raw)
    args = ['--root', str(root), '--split', 'val']
    assert _prep.run(prepare_cityscapes.main, args) == 0
    out = cv2.imread(str(src.with_name('c_000000_000019_gtFine_labelTrainIds.png')), -1)
    assert np.array_equal(out, np.resize(np.uint8([255, 0, 1, 13, 18, 255]), (H, W)))
    assert _prep.run(prepare_cityscapes.main, args) == 1
    assert cv2.imwrite(str(src), np.full((H, W), 40, np.uint8))
    capsys.readouterr()
    assert _prep.run(prepare_cityscapes.main, args + ['--force']) == 1
    assert 'labelId 40 > 33' in capsys.readouterr().err


def _rle_string(counts):
    """COCO's compressed RLE string (pycocotools rleToString), for building inputs."""
    out = []
    for i, x in enumerate(counts):
        x = x - counts[i - 2] if i > 2 else x
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return ''.join(out)


def _rle(mask):
    flat = mask.ravel(order='F').astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], edges])).tolist()
    return {'size': list(mask.shape), 'counts': _rle_string(counts)}


def test_rle_decoding_round_trips_and_matches_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = (rng.random((7, 33)) < rng.random()).astype(np.uint8)
        mask[0, 0] = rng.integers(0, 2)
        rle = _rle(mask)
        assert np.array_equal(prepare_pcontext.decode_rle(rle), mask)
        assert np.array_equal(prepare_pcontext.decode_rle(
            {'size': rle['size'], 'counts': prepare_pcontext.rle_counts(rle)}), mask)
    cocomask = need_module('pycocotools.mask')
    for _ in range(20):
        mask = np.asfortranarray((rng.random((40, 300)) < 0.5).astype(np.uint8))
        coded = cocomask.encode(mask)
        coded = {'size': coded['size'], 'counts': coded['counts'].decode()}
        assert coded['counts'] == _rle(mask)['counts']
        assert np.array_equal(prepare_pcontext.decode_rle(coded), mask)


def _pcontext(tmp_path):
    """(root, annotation dict) of a two-image PASCAL in Detail tree, the JSON written."""
    root = tmp_path / 'PContext'
    for ident in ('2008_000001', '2008_000002'):
        _img(root / 'JPEGImages' / f'{ident}.jpg')
    left, top = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    left[:, :3], top[:2] = 1, 1
    data = {'images': [{'image_id': 1, 'file_name': '2008_000001.jpg', 'height': H, 'width': W,
                        'phase': 'train'},
                       {'image_id': 2, 'file_name': '2008_000002.jpg', 'height': H, 'width': W,
                        'phase': 'val'}],
            'annos_segmentation': [  # 2 = aeroplane (-> 1), 458 (-> 59); later paints over
                {'id': 1, 'image_id': 1, 'category_id': 2, 'segmentation': _rle(left)},
                {'id': 2, 'image_id': 1, 'category_id': 458, 'segmentation': _rle(top)}]}
    (root / 'trainval_merged.json').write_text(json.dumps(data))
    return root, data


def test_pcontext_labels_and_lists(tmp_path, capsys):
    root, data = _pcontext(tmp_path)
    args = ['--root', str(root)]
    assert _prep.run(prepare_pcontext.main, args) == 0
    assert (root / 'train.txt').read_text() == '2008_000001\n'
    ds = get_dataset('pcontext', root=root, split='train', mode='testval')
    label = ds[0][1]
    assert (label[:2] == 58).all() and (label[2:, :3] == 0).all() and (label[2:, 3:] == -1).all()
    assert len(get_dataset('pcontext', root=root, split='val', mode='testval')) == 1
    assert _prep.run(prepare_pcontext.main, args) == 1
    data['annos_segmentation'][0]['category_id'] = 3  # not one of the 60
    (root / 'trainval_merged.json').write_text(json.dumps(data))
    capsys.readouterr()
    assert _prep.run(prepare_pcontext.main, args + ['--force']) == 1
    assert 'category ids [3]' in capsys.readouterr().err


REAL_SPLITS = SHARED / 'realdata/nyuv2_meta_data/splits.mat'


def test_nyuv2_with_the_official_split_file(tmp_path, monkeypatch):
    """The real splits.mat (1-based trainNdxs/testNdxs) gives the official 795 / 654 lists."""
    need_shared(REAL_SPLITS)
    savemat = need_module('scipy.io').savemat
    n = 1449
    src = tmp_path / 'src'
    src.mkdir()
    savemat(str(src / 'labels40.mat'), {'labels40': np.ones((H, W, n), np.uint8)})
    (src / 'splits.mat').write_bytes(REAL_SPLITS.read_bytes())
    (src / 'nyu_depth_v2_labeled.mat').write_bytes(b'stand-in; frames come from the stub')
    monkeypatch.setattr(prepare_nyuv2, 'iter_frames', lambda path: iter(_frames(n)))
    out = tmp_path / 'NYUv2'
    assert _prep.run(prepare_nyuv2.main, ['--src', str(src), '--out', str(out)]) == 0
    train = (out / 'train.txt').read_text().split()
    val = (out / 'val.txt').read_text().split()
    assert (len(train), len(val)) == (795, 654) and not set(train) & set(val)
    assert len(get_dataset('nyuv2', root=out, split='val', mode='testval')) == 654


# ---------------------------------------------------------------------------- no overwrite
def _vocaug_case(tmp_path, monkeypatch):
    voc, sbd = _voc_sbd(tmp_path)
    out = tmp_path / 'VOCAug'
    return prepare_vocaug, ['--voc', str(voc), '--sbd', str(sbd), '--out', str(out)], \
        out / 'cls_aug' / 'a.png'


def _nyuv2_case(tmp_path, monkeypatch):
    src = _nyu_src(tmp_path)
    (src / 'nyu_depth_v2_labeled.mat').write_bytes(b'stand-in; frames come from the stub')
    monkeypatch.setattr(prepare_nyuv2, 'iter_frames', lambda path: iter(_frames()))
    out = tmp_path / 'NYUv2'
    return prepare_nyuv2, ['--src', str(src), '--out', str(out)], out / 'train.txt'


def _cityscapes_case(tmp_path, monkeypatch):
    root = tmp_path / 'Cityscapes'
    src = root / 'gtFine/val/c/c_000000_000019_gtFine_labelIds.png'
    src.parent.mkdir(parents=True)
    assert cv2.imwrite(str(src), np.zeros((H, W), np.uint8))
    return prepare_cityscapes, ['--root', str(root), '--split', 'val'], \
        src.with_name('c_000000_000019_gtFine_labelTrainIds.png')


def _pcontext_case(tmp_path, monkeypatch):
    root, _ = _pcontext(tmp_path)
    return prepare_pcontext, ['--root', str(root)], root / 'Labels_59' / '2008_000002.png'


@pytest.mark.parametrize('case', [_vocaug_case, _nyuv2_case, _cityscapes_case, _pcontext_case])
def test_an_existing_output_file_stays_byte_identical(case, tmp_path, monkeypatch, capsys):
    module, args, target = case(tmp_path, monkeypatch)
    target.parent.mkdir(parents=True, exist_ok=True)
    mine = b'a file of a previous run, or of the user: not to be touched'
    target.write_bytes(mine)
    before = sorted(tmp_path.rglob('*'))
    capsys.readouterr()
    assert _prep.run(module.main, args) == 1
    err = capsys.readouterr().err
    assert str(target) in err and '--force' in err, err
    assert target.read_bytes() == mine
    assert sorted(tmp_path.rglob('*')) == before  # nothing else written either
    assert _prep.run(module.main, args + ['--force']) == 0
    assert target.read_bytes() != mine


def test_writers_never_replace_a_file_that_appears_mid_run(tmp_path):
    # refuse_existing runs up front; a second run on the same output can still create a
    # file afterwards, so each write is create-exclusive unless --force.
    target = tmp_path / 'out' / 'x.png'
    target.parent.mkdir()
    target.write_bytes(b'written by the other run')
    for write in (lambda **kw: _prep.write_png(target, np.zeros((H, W), np.uint8), **kw),
                  lambda **kw: _prep.write_list(target, ['a'], **kw),
                  lambda **kw: _prep.copy_file(__file__, target, **kw)):
        with pytest.raises(_prep.PrepError, match=f'{target}.*--force'):
            write()
        assert target.read_bytes() == b'written by the other run'
        assert [p.name for p in target.parent.iterdir()] == ['x.png']  # no temporary left
    _prep.write_png(target, np.full((H, W), 3, np.uint8), overwrite=True)
    assert (cv2.imread(str(target), -1) == 3).all()
    fresh = tmp_path / 'out' / 'y.txt'
    _prep.write_list(fresh, ['a', 'b'])
    assert fresh.read_text() == 'a\nb\n'
