"""The procedurally generated toy dataset: determinism, exact labels, safe caching, loading."""
import threading

import cv2
import numpy as np
import pytest
import torch

from mxnetseg.data import get_dataset, ensure_toy_dataset
from mxnetseg.data.toy import (IMAGE_HW, SPLIT_SIZES, TOY_VERSION, Toy, generate_toy_dataset,
                               render_toy_sample)


@pytest.fixture(scope='module')
def toy_data_root(tmp_path_factory):
    """A data root whose ``toy`` folder holds one generated copy, shared by this module."""
    root = tmp_path_factory.mktemp('toy_data')
    ensure_toy_dataset(root / 'toy')
    return root


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file())


def test_generation_is_deterministic(tmp_path, toy_data_root):
    generate_toy_dataset(tmp_path / 'again')
    first, second = toy_data_root / 'toy', tmp_path / 'again'
    assert _files(first) == _files(second)
    for rel in _files(first):
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_layout_and_list_files(toy_data_root):
    root = toy_data_root / 'toy'
    for split, count in SPLIT_SIZES.items():
        lines = (root / f'{split}.txt').read_text().splitlines()
        assert len(lines) == count
        if split == 'test':
            assert lines[0] == 'images/test/0000.png'
        else:
            assert lines[0] == f'images/{split}/0000.png labels/{split}/0000.png'


def test_files_hold_the_exact_rendered_labels(toy_data_root):
    root = toy_data_root / 'toy'
    seen = set()
    for i in range(0, SPLIT_SIZES['train'], 20):
        image, label = render_toy_sample('train', i)
        stored = cv2.imread(str(root / f'labels/train/{i:04d}.png'), cv2.IMREAD_UNCHANGED)
        stored_img = cv2.imread(str(root / f'images/train/{i:04d}.png'), cv2.IMREAD_COLOR)
        assert np.array_equal(stored, label)
        assert np.array_equal(cv2.cvtColor(stored_img, cv2.COLOR_BGR2RGB), image)
        assert image.shape == IMAGE_HW + (3,) and label.dtype == np.uint8
        seen |= set(np.unique(label).tolist())
    assert seen == set(range(Toy.NUM_CLASS))


def test_ensure_is_a_no_op_when_current(toy_data_root):
    root = toy_data_root / 'toy'
    before = {rel: (root / rel).stat().st_mtime_ns for rel in _files(root)}
    assert ensure_toy_dataset(root) == root
    assert {rel: (root / rel).stat().st_mtime_ns for rel in _files(root)} == before


def test_concurrent_ensure_leaves_one_complete_copy(tmp_path):
    root = tmp_path / 'toy'
    errors = []

    def worker():
        try:
            ensure_toy_dataset(root)
        except Exception as err:  # surfaced by the assert below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == ['toy']  # no temp folders left behind
    assert (root / '.toy_version').read_text().strip() == TOY_VERSION
    assert len(list((root / 'images' / 'train').iterdir())) == SPLIT_SIZES['train']


def test_stale_copy_is_replaced_and_foreign_folder_refused(tmp_path):
    root = tmp_path / 'toy'
    root.mkdir()
    (root / '.toy_version').write_text('toy-v0\n')
    (root / 'junk.txt').write_text('old')
    ensure_toy_dataset(root)
    assert not (root / 'junk.txt').exists()
    assert (root / '.toy_version').read_text().strip() == TOY_VERSION
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='mine'):
        ensure_toy_dataset(foreign)


@pytest.mark.parametrize('split, mode', [('train', 'train'), ('val', 'val'),
                                         ('val', 'testval'), ('test', 'test')])
def test_loads_through_get_dataset_in_every_mode(toy_data_root, split, mode):
    ds = get_dataset('toy', data_root=toy_data_root, split=split, mode=mode, crop_size=64,
                     base_size=128)
    assert len(ds) == SPLIT_SIZES[split]
    assert ds.num_class == 5 and len(ds.classes) == 5 and ds.palette.shape == (5, 3)
    image, target = ds[0]
    assert image.dtype == torch.float32
    if mode == 'test':
        assert image.shape == (3,) + IMAGE_HW and target == 'images/test/0000.png'
        return
    side = IMAGE_HW if mode == 'testval' else (64, 64)
    assert image.shape == (3,) + side and target.shape == side and target.dtype == torch.int64
    assert target.min() >= -1 and target.max() < 5


def test_default_root_is_data_root_toy(toy_data_root, monkeypatch):
    monkeypatch.setenv('MXNETSEG_DATA', str(toy_data_root))
    assert get_dataset('TOY', split='val').root == toy_data_root / 'toy'
    # Forgiving: pointing data_root at the toy folder itself works too.
    assert get_dataset('toy', data_root=toy_data_root / 'toy', split='val').root == toy_data_root / 'toy'
