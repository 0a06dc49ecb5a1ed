"""The pre-flight pass finds bad files from headers alone, names each one, and is fast."""
import time

import cv2
import numpy as np
import pytest

from conftest import need_module
from PIL import Image

from mxnetseg.data import DataError, get_dataset, list_datasets
from mxnetseg.data.preflight import preflight, preflight_problems
from test_datasets import SPECS


def _tree(root, n=6, h=20, w=30):
    """A 'list' dataset: n JPEG images with single-channel PNG labels."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        (root / 'img').mkdir(parents=True, exist_ok=True)
        (root / 'lbl').mkdir(exist_ok=True)
        Image.fromarray(img).save(root / 'img' / f'{i}.jpg')
        assert cv2.imwrite(str(root / 'lbl' / f'{i}.png'), np.full((h, w), i % 3, np.uint8))
        lines.append(f'img/{i}.jpg lbl/{i}.png')
    (root / 'train.txt').write_text('\n'.join(lines) + '\n')
    return get_dataset('list', root=root, split='train', num_class=3)


def test_a_clean_split_passes_and_reports_its_size(tmp_path):
    ds = _tree(tmp_path)
    assert preflight_problems(ds) == []
    n, seconds = preflight(ds, workers=2)
    assert n == 6 and 0 <= seconds < 5


def test_every_kind_of_bad_file_is_named(tmp_path):
    ds = _tree(tmp_path, n=8)
    img, lbl = zip(*ds.pairs)
    img[0].write_bytes(img[0].read_bytes()[:-30])                     # cut-off JPEG
    lbl[1].write_bytes(lbl[1].read_bytes()[:-4])                      # cut-off PNG
    img[2].write_bytes(b'<html>404 Not Found</html>')                 # not an image at all
    lbl[3].write_bytes(b'')                                           # empty
    assert cv2.imwrite(str(lbl[4]), np.zeros((20, 31), np.uint8))    # size mismatch
    assert cv2.imwrite(str(lbl[5]), np.zeros((20, 30, 3), np.uint8))  # colour label
    img[6].unlink()                                                   # gone since listing
    problems = preflight_problems(ds)
    expected = {img[0]: 'truncated', lbl[1]: 'truncated', img[2]: 'cannot read the image header',
                lbl[3]: 'empty', lbl[4]: '30x20 but label', lbl[5]: '3 channels',
                img[6]: 'missing'}
    assert len(problems) == len(expected), problems
    for path, what in expected.items():
        assert any(str(path) in p and what in p for p in problems), (path, what, problems)
    assert not any(str(img[7]) in p or str(lbl[7]) in p for p in problems)


def test_preflight_raises_one_data_error_listing_at_most_max_listed(tmp_path):
    ds = _tree(tmp_path, n=5)
    for _, lbl in ds.pairs:
        assert cv2.imwrite(str(lbl), np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError) as info:
        preflight(ds, max_listed=2)
    msg = str(info.value)
    assert '5 problem(s)' in msg and '... and 3 more' in msg and 'preflight: false' in msg
    assert msg.count('but label') == 2 and str(ds.pairs[0][1]) in msg
    assert (f'`python -m mxnetseg data check --data list --root {tmp_path} --split train '
            f'--num-class 3 --ignore-label 255`') in msg


def test_headers_only_pixels_are_not_decoded(tmp_path):
    # A PNG with a valid header and end marker but corrupt pixel data passes pre-flight
    # (only decoding finds it: the sample-time check or `data check`). This pins that the
    # pass reads headers, which is what keeps it at seconds for a Cityscapes-size tree.
    ds = _tree(tmp_path, n=1)
    lbl = ds.pairs[0][1]
    data = bytearray(lbl.read_bytes())
    idat = data.index(b'IDAT') + 4
    data[idat:idat + 6] = b'\x00' * 6
    lbl.write_bytes(bytes(data))
    assert preflight_problems(ds) == []
    with pytest.raises(DataError, match=str(lbl)):
        ds[0]


def test_mat_labels_are_checked_for_presence_only(tmp_path):
    ds = _tree(tmp_path, n=2)
    mat = tmp_path / 'lbl' / '0.mat'
    mat.write_bytes(b'MATLAB 5.0 MAT-file')
    ds.pairs[0] = (ds.pairs[0][0], mat)
    ds.pairs[1] = (ds.pairs[1][0], tmp_path / 'lbl' / 'gone.mat')
    problems = preflight_problems(ds)
    assert len(problems) == 1 and 'gone.mat' in problems[0] and 'missing' in problems[0]


def test_not_a_dataset_is_a_type_error():
    with pytest.raises(TypeError, match='pairs'):
        preflight([1, 2, 3])


# MSCOCO (an annotation tree) and MHPV1 (3000 generated files) have no cheap miniature tree
@pytest.mark.parametrize('name', [n for n in list_datasets() if n not in ('MSCOCO', 'MHPV1')])
def test_no_false_alarms_on_any_registered_dataset(name, tmp_path, toy_root):
    # Every dataset's miniature tree from test_datasets (palette PNGs, 16-bit, .mat labels,
    # merged MHP masks, ...) is clean: the pass must not stop a good run.
    spec = SPECS[name]
    needs = spec.get('needs')
    if needs:
        need_module('scipy' if needs == 'scipy' else 'pycocotools')
    if name == 'toy':
        ds = get_dataset('toy', data_root=toy_root, split='train')
    else:
        spec['build'](tmp_path)
        split, mode, _ = spec['splits'][0]
        ds = get_dataset(name, root=tmp_path, split=split, mode=mode, **spec.get('kw', {}))
    assert preflight_problems(ds) == []
    assert preflight(ds)[0] == len(ds)
