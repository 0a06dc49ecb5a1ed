"""`python -m mxnetseg data check` on a clean and a deliberately broken miniature tree."""
import cv2
import numpy as np

from mxnetseg.__main__ import main as cli_main
from mxnetseg.data.check import check_dataset
from conftest import SHARED, need_module, need_shared

H, W = 8, 12
CITY_IDS = np.array([0, 7, 8, 26], np.uint8)  # unlabeled, road, sidewalk, car


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)


def _city(root):
    rng = np.random.default_rng(0)
    for split in ('train', 'val'):
        for i in range(2):
            stem = f'{split}city_00000{i}_000019'
            _png(root / 'leftImg8bit' / split / 'c' / f'{stem}_leftImg8bit.png',
                 rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
            _png(root / 'gtFine' / split / 'c' / f'{stem}_gtFine_labelIds.png',
                 CITY_IDS[rng.integers(0, 4, (H, W))])
    _png(root / 'leftImg8bit' / 'test' / 'c' / 'testcity_000000_000019_leftImg8bit.png',
         np.zeros((H, W, 3), np.uint8))
    return root


def _run(capsys, *args):
    code = cli_main(['data', 'check', '--no-progress', '--workers', '2', *map(str, args)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_clean_cityscapes_tree_exits_0_with_counts_and_histogram(tmp_path, capsys):
    code, out = _run(capsys, '--data', 'cityscapes', '--data-root', _city(tmp_path / 'Cityscapes'))
    assert code == 0, out
    assert 'clean' in out
    assert 'train     testval  2' in out and 'test      test     1' in out
    assert '7 ->    0' in out and '26 ->   13' in out and '0 ->   -1' in out
    assert 'UNEXPECTED' not in out


def test_broken_cityscapes_tree_names_every_problem(tmp_path, capsys):
    root = _city(tmp_path / 'Cityscapes')
    lbl = root / 'gtFine' / 'train' / 'c'
    (lbl / 'traincity_000000_000019_gtFine_labelIds.png').unlink()            # missing label
    _png(lbl / 'traincity_000001_000019_gtFine_labelIds.png', np.zeros((H, W + 1), np.uint8))
    _png(root / 'gtFine' / 'val' / 'c' / 'valcity_000000_000019_gtFine_labelIds.png',
         np.full((H, W), 40, np.uint8))                                     # labelId > 33
    img = root / 'leftImg8bit' / 'val' / 'c' / 'valcity_000001_000019_leftImg8bit.png'
    img.write_bytes(img.read_bytes()[:30])                                  # truncated
    code, out = _run(capsys, '--data', 'cityscapes', '--data-root', tmp_path)
    assert code == 1, out
    assert '[unlabelled]' in out and 'traincity_000000_000019_leftImg8bit.png' in out
    assert '[size]' in out and 'is 12x8 but label' in out and 'is 13x8' in out
    assert '[value]' in out and 'valcity_000000_000019_gtFine_labelIds.png' in out
    assert '[unreadable]' in out and 'valcity_000001_000019_leftImg8bit.png' in out


def _nyu(root, values=(0, 1, 40)):
    (root / 'train.txt').parent.mkdir(parents=True, exist_ok=True)
    (root / 'train.txt').write_text('0\n1\n2\n')
    (root / 'val.txt').write_text('3\n')
    for i in range(4):
        _png(root / 'images' / f'{i}.jpg', np.full((H, W, 3), 99, np.uint8))
        _png(root / 'labels40' / f'{i}.png', np.resize(np.uint8(values), (H, W)))
    return root


def test_split_list_reports_all_missing_files_and_unexpected_values(tmp_path, capsys):
    root = _nyu(tmp_path / 'NYUv2')
    (root / 'images' / '0.jpg').unlink()
    (root / 'labels40' / '1.png').unlink()
    _png(root / 'labels40' / '2.png', np.full((H, W), 41, np.uint8))  # 41 -> 40: one too many
    code, out = _run(capsys, '--data', 'nyuv2', '--data-root', tmp_path)
    assert code == 1, out
    assert out.count('[missing]') == 2 and '0.jpg is listed but missing' in out
    assert '1.png is listed but missing' in out
    assert '41 ->   40' in out and 'UNEXPECTED' in out
    assert "2.png: mapped label values [40]" in out


def test_missing_split_and_usage_errors(tmp_path, capsys):
    root = _nyu(tmp_path / 'NYUv2')
    (root / 'val.txt').unlink()
    code, out = _run(capsys, '--data', 'nyuv2', '--root', root)
    assert code == 1 and "[split] split 'val'" in out and 'val.txt' in out
    assert _run(capsys, '--data', 'nosuchset', '--root', root)[0] == 2
    assert _run(capsys, '--root', root)[0] == 2  # --data is required
    assert cli_main(['data', 'frobnicate']) == 2


def test_check_dataset_api_returns_the_histogram(tmp_path):
    report = check_dataset('nyuv2', root=_nyu(tmp_path / 'NYUv2'), progress=False)
    assert report['counts'] == {'train': ('testval', 3), 'val': ('testval', 1)}
    assert report['histogram'][(0, -1)] > 0 and report['histogram'][(40, 39)] > 0
    assert not report['problems']


def test_truncated_mat_label_is_reported_not_a_crash(tmp_path, capsys):
    savemat = need_module('scipy.io').savemat
    root = tmp_path / 'SBD'
    (root / 'cls').mkdir(parents=True)
    (root / 'trainval.txt').write_text('a\nb\n')
    (root / 'val.txt').write_text('b\n')
    for ident in 'ab':
        _png(root / 'img' / f'{ident}.jpg', np.zeros((H, W, 3), np.uint8))
        savemat(str(root / 'cls' / f'{ident}.mat'),
                {'GTcls': {'Segmentation': np.full((H, W), 3.0)}})
    mat = root / 'cls' / 'a.mat'
    mat.write_bytes(mat.read_bytes()[:150])
    code, out = _run(capsys, '--data', 'sbd', '--root', root)
    assert code == 1 and '[unreadable]' in out and 'a.mat' in out
    assert '3 ->    3' in out  # b.mat still counted




def test_real_camvid_through_list_dataset_is_clean(capsys):
    root = need_shared(SHARED / 'camvid')
    code, out = _run(capsys, '--data', 'list', '--root', root, '--num-class', 11,
                     '--ignore-label', 11)
    assert code == 0, out
    for count in ('367', '101', '233'):
        assert count in out


def test_real_cityscapes_sample_is_clean(capsys):
    root = need_shared(SHARED / 'realdata/mmsegmentation_tests/tests/data/pseudo_cityscapes_dataset')
    code, out = _run(capsys, '--data', 'cityscapes', '--root', root, '--split', 'val')
    assert code == 0, out


def test_cityscapes_without_the_optional_test_split_exits_0(tmp_path, capsys):
    # Many copies hold only train/val (the test images are a separate download): 'absent',
    # not a failure. Asked for by name it is still a problem.
    root = _city(tmp_path / 'Cityscapes')
    for folder in sorted((root / 'leftImg8bit' / 'test').rglob('*'), reverse=True):
        folder.unlink() if folder.is_file() else folder.rmdir()
    (root / 'leftImg8bit' / 'test').rmdir()
    code, out = _run(capsys, '--data', 'cityscapes', '--root', root)
    assert code == 0, out
    assert 'test      absent' in out and 'clean' in out and 'train     testval  2' in out
    code, out = _run(capsys, '--data', 'cityscapes', '--root', root, '--split', 'val', 'test')
    assert code == 1 and '[split]' in out and 'test' in out


def test_real_cityscapes_sample_without_train_or_test_reports_train(capsys):
    # The real sample has val only: the missing train split is a problem, test is optional.
    root = SHARED / 'realdata/mmsegmentation_tests/tests/data/pseudo_cityscapes_dataset'
    if not root.is_dir():
        pytest.skip('../shared/realdata not available')
    code, out = _run(capsys, '--data', 'cityscapes', '--root', root)
    assert code == 1 and "[split] split 'train'" in out and 'test      absent' in out


def _mini_segnet_camvid(dst, per_split=(2, 1, 1)):
    """The first frames of ../shared/camvid per split, linked, with their own lists."""
    src = SHARED / 'camvid'
    if not (src / 'train.txt').is_file():
        pytest.skip('../shared/camvid not available')
    for split, n in zip(('train', 'val', 'test'), per_split):
        lines = (src / f'{split}.txt').read_text().splitlines()[:n]
        for line in lines:
            for name in line.split():
                (dst / name).parent.mkdir(parents=True, exist_ok=True)
                (dst / name).symlink_to((src / name).resolve())
        (dst / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return dst


def test_camvid_check_states_that_val_is_the_test_set(tmp_path, capsys):
    code, out = _run(capsys, '--data', 'camvid', '--root', _mini_segnet_camvid(tmp_path))
    assert code == 0, out
    assert 'train     testval  3' in out and 'val       testval  1' in out
    assert "note: CamVid: split 'val' reads test.txt, the TEST set" in out
