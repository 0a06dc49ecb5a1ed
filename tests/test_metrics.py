import json

import numpy as np
import pytest
import torch

from mxnetseg.tools.metrics import EPS, SegmentationMetric
from conftest import SHARED, need_shared

REALDATA = SHARED / 'realdata'


def _gluoncv_reference(preds, labels, nclass):
    """GluonCV's histogram recipe (labels shifted by +1, 0 = ignore), re-derived in numpy."""
    inter = union = correct = labelled = 0
    for pred, label in zip(preds, labels):
        p, t = pred.astype(np.int64) + 1, label.astype(np.int64) + 1
        labelled += np.sum(t > 0)
        correct += np.sum((p == t) * (t > 0))
        p = p * (t > 0)
        i = p * (p == t)
        a_i = np.histogram(i, bins=nclass, range=(1, nclass))[0]
        a_p = np.histogram(p, bins=nclass, range=(1, nclass))[0]
        a_l = np.histogram(t, bins=nclass, range=(1, nclass))[0]
        inter, union = inter + a_i, union + a_p + a_l - a_i
    iou = 1.0 * inter / (np.spacing(1) + union)
    return 1.0 * correct / (np.spacing(1) + labelled), iou.mean()


def _load(path):
    from PIL import Image
    return np.array(Image.open(path))


def test_hand_computed_with_ignore():
    label = torch.tensor([[[0, 0, 1], [1, 2, -1]]])
    pred = torch.tensor([[[0, 1, 1], [1, 0, 2]]])   # the 2 sits on an ignored pixel
    m = SegmentationMetric(3)
    m.update(label, pred)
    pix_acc, miou = m.get()
    assert pix_acc == 3 / (EPS + 5)
    iou = np.array([1 / (EPS + 3), 2 / (EPS + 3), 0.0])
    assert miou == iou.mean()
    s = m.summary()
    np.testing.assert_array_equal(s['IoU'], iou)
    assert s['mAcc'] == pytest.approx(0.5)
    assert s['fwIoU'] == pytest.approx(0.4)
    assert s['mIoU_present'] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(m.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])


def test_absent_class_gluoncv_vs_present():
    label = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1]])
    m = SegmentationMetric(4)            # classes 2 and 3 never appear
    m.update(label, pred)
    s = m.summary()
    assert s['mIoU'] == pytest.approx((1 / 2 + 2 / 3) / 4)         # GluonCV: absent = 0
    assert s['mIoU_present'] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert s['IoU'][2] == 0 and s['IoU'][3] == 0


def test_all_correct_and_logits_input():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 7, 9, generator=g)
    label = logits.argmax(1)
    m = SegmentationMetric(5)
    m.update(label, logits)
    pix_acc, miou = m.get()
    assert pix_acc == pytest.approx(1.0) and miou == pytest.approx(1.0)
    # (K,H,W) logits against an (H,W) label work too
    m2 = SegmentationMetric(5)
    m2.update(label[0], logits[0])
    assert m2.get()[0] == pytest.approx(1.0)


def test_accumulation_equals_one_update_and_gluoncv():
    rng = np.random.default_rng(1)
    preds = [rng.integers(0, 6, (1, 11, 13)) for _ in range(4)]
    labels = [rng.integers(-1, 6, (1, 11, 13)) for _ in range(4)]
    labels[2][:] = np.where(labels[2] == 5, -1, labels[2])   # a class missing from one batch
    many, one = SegmentationMetric(6), SegmentationMetric(6)
    for p, t in zip(preds, labels):
        many.update(torch.from_numpy(t), torch.from_numpy(p))
    one.update(torch.from_numpy(np.concatenate(labels)), torch.from_numpy(np.concatenate(preds)))
    np.testing.assert_array_equal(many.confusion, one.confusion)
    assert many.get() == one.get()
    ref = _gluoncv_reference(preds, labels, 6)
    assert many.get() == pytest.approx(ref, rel=1e-15, abs=0)


def test_reset_and_empty():
    m = SegmentationMetric(3)
    assert m.get() == (0.0, 0.0)
    m.update(torch.tensor([[1]]), torch.tensor([[1]]))
    m.reset()
    assert m.confusion.sum() == 0


def test_out_of_range_label_raises_naming_values():
    m = SegmentationMetric(3)
    with pytest.raises(ValueError, match=r'255'):
        m.update(torch.tensor([[0, 255, 2]]), torch.tensor([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r'\[3\]'):
        m.update(torch.tensor([[0, 1, 2]]), torch.tensor([[0, 3, 2]]))   # bad index prediction
    with pytest.raises(ValueError, match='shape'):
        m.update(torch.zeros(1, 3, 3, dtype=torch.long), torch.zeros(1, 2, 2, dtype=torch.long))
    assert m.confusion.sum() == 0     # nothing from the failed calls was counted


def test_table_format():
    m = SegmentationMetric(2)
    m.update(torch.tensor([[0, 0]]), torch.tensor([[0, 1]]))
    lines = m.table(['road', 'sidewalk']).splitlines()
    assert lines[0] == 'class  0 road     ==> IoU 50.00'
    assert lines[1] == 'class  1 sidewalk ==> IoU 0.00'
    assert lines[2] == 'PA: 50.00, mIoU: 25.00'
    assert m.table().splitlines()[0] == 'class  0 ==> IoU 50.00'


def _cityscapes_official_miou(conf, evaluated):
    """The cityscapesscripts recipe: FP only from evaluated GT rows, FN from whole rows,
    NaN classes (no TP+FP+FN) skipped in the mean."""
    ious = []
    for c in evaluated:
        tp = conf[c, c]
        fp = conf[[r for r in evaluated if r != c], c].sum()
        fn = conf[c, :].sum() - tp
        ious.append(np.nan if tp + fp + fn == 0 else tp / (tp + fp + fn))
    return np.nanmean(ious)


def test_mIoU_present_matches_cityscapes_definition_random():
    rng = np.random.default_rng(7)
    k = 19
    gt_classes = [c for c in range(k) if c not in (5, 7)]     # 7: predicted only; 5: nowhere
    pred_classes = [c for c in range(k) if c != 5]
    gt = rng.choice(gt_classes, size=(3, 64, 96))
    gt[rng.random(gt.shape) < 0.15] = -1
    pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.choice(pred_classes, size=gt.shape))
    pred[pred < 0] = 0
    m = SegmentationMetric(k)
    m.update(torch.from_numpy(gt), torch.from_numpy(pred))
    # official recipe over k+1 ids where id k stands for every ignoreInEval id
    g, p = np.where(gt < 0, k, gt), pred
    conf = np.bincount(g.ravel() * (k + 1) + p.ravel(), minlength=(k + 1) ** 2)
    expected = _cityscapes_official_miou(conf.reshape(k + 1, k + 1), range(k))
    assert m.summary()['mIoU_present'] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize('pred_dir', ['results_identity', 'results_roll4'])
def test_cityscapes_real_frame_against_official_recipe(pred_dir):
    gt_path = (REALDATA / 'mmsegmentation_tests/tests/data/pseudo_cityscapes_dataset/gtFine/val'
               / 'frankfurt/frankfurt_000000_000294_gtFine_labelIds.png')
    pred_path = REALDATA / 'cityscapesscripts_official/worked_example_real' / pred_dir / \
        'frankfurt_000000_000294_pred_labelIds.png'
    need_shared(gt_path, pred_path)
    labels_json = REALDATA / 'cityscapesscripts_official/cityscapes_labels.json'
    table = json.loads(labels_json.read_text())['labels']
    lut = np.full(256, -1, dtype=np.int64)
    for entry in table:
        if entry['id'] >= 0 and not entry['ignoreInEval']:
            lut[entry['id']] = entry['trainId']
    evaluated = sorted(e['id'] for e in table if e['id'] >= 0 and not e['ignoreInEval'])
    gt_ids, pred_ids = _load(gt_path).astype(np.int64), _load(pred_path).astype(np.int64)
    # official side: 34x34 labelId confusion over GT pixels whose id is evaluated
    keep = np.isin(gt_ids, evaluated)
    conf = np.bincount(gt_ids[keep] * 34 + pred_ids[keep], minlength=34 * 34).reshape(34, 34)
    expected = _cityscapes_official_miou(conf, evaluated)
    m = SegmentationMetric(19)
    m.update(torch.from_numpy(lut[gt_ids]), torch.from_numpy(lut[pred_ids]))   # void pred = miss
    assert m.summary()['mIoU_present'] == pytest.approx(expected, abs=1e-12)
    if pred_dir == 'results_identity':
        assert expected == 1.0


def _ade_official(preds, labels, nclass=150):
    """CSAILVision sceneparsing utils_eval: classes 1..150, 0 = unlabelled, mean over all 150.
    It is GluonCV's histogram recipe on labels one higher (0 already means unlabelled)."""
    return _gluoncv_reference([np.asarray(p, dtype=np.int64) - 1 for p in preds],
                              [np.asarray(t, dtype=np.int64) - 1 for t in labels], nclass)


@pytest.mark.parametrize('pred_dir', ['sampleData/predictions', 'derived_predictions_roll5'])
def test_ade20k_sample_data(pred_dir):
    root = REALDATA / 'ade20k_sceneparsing_sampledata'
    need_shared(root / 'sampleData/annotations', root / pred_dir)
    ann = sorted((root / 'sampleData/annotations').glob('*.png'))
    assert len(ann) == 3, ann          # ADE_val_00000001..3
    labels = [_load(f).astype(np.int64) for f in ann]
    preds = [_load(root / pred_dir / f.name).astype(np.int64) for f in ann]
    m = SegmentationMetric(150)
    for p, t in zip(preds, labels):      # reduce_zero_label: 0 -> ignore (-1), k -> k-1
        m.update(torch.from_numpy(t - 1), torch.from_numpy(p - 1))
    pix_acc, miou = m.get()
    ref_acc, ref_miou = _ade_official(preds, labels)
    assert pix_acc == pytest.approx(ref_acc, abs=1e-12)
    assert miou == pytest.approx(ref_miou, abs=1e-12)
    if pred_dir.startswith('sampleData'):
        # README numbers: "Mean IoU over 150 classes: 0.1000, Pixel-wise Accuracy: 100.00%"
        assert round(miou, 4) == 0.1 and round(pix_acc * 100, 2) == 100.0
        assert m.summary()['mIoU_present'] == pytest.approx(1.0)


def test_voc_deeplabv3plus_samples_fcn_score():
    root = REALDATA / 'voc2012_deeplabv3plus_samples/derived_indexed'
    ids = ['1', '23', '114']
    need_shared(*(root / f'{i}_target.png' for i in ids))
    m = SegmentationMetric(21)
    hist = np.zeros((21, 21), dtype=np.int64)
    for i in ids:
        gt = _load(root / f'{i}_target.png').astype(np.int64)
        pred = _load(root / f'{i}_pred.png').astype(np.int64)
        keep = gt < 255                    # VOCevalseg / FCN score.py: skip void
        hist += np.bincount(21 * gt[keep] + pred[keep], minlength=441).reshape(21, 21)
        m.update(torch.from_numpy(np.where(gt == 255, -1, gt)), torch.from_numpy(pred))
    with np.errstate(invalid='ignore', divide='ignore'):
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    s = m.summary()
    assert s['mIoU_present'] == pytest.approx(np.nanmean(iu), abs=1e-12)
    assert s['pixAcc'] == pytest.approx(np.diag(hist).sum() / hist.sum(), abs=1e-12)
    assert 0.5 < s['mIoU_present'] < 1.0


def test_accelerator_path_on_cpu_matches_and_defers_errors():
    rng = np.random.default_rng(3)
    pred, label = rng.integers(0, 4, (2, 9, 9)), rng.integers(-1, 4, (2, 9, 9))
    host, queued = SegmentationMetric(4), SegmentationMetric(4)
    queued._host_devices = ()            # scatter_add histogram, check deferred to get()
    host.update(torch.from_numpy(label), torch.from_numpy(pred))
    queued.update(torch.from_numpy(label), torch.from_numpy(pred))
    np.testing.assert_array_equal(host.confusion, queued.confusion)
    label[0, 0, 0], label[1, 2, 3] = 255, 7
    queued.update(torch.from_numpy(label), torch.from_numpy(pred))      # no sync, no raise yet
    with pytest.raises(ValueError, match='smallest 7, largest 255'):
        queued.get()


def test_all_reduce_single_process(tmp_path):
    dist = torch.distributed
    m = SegmentationMetric(3)
    m.all_reduce()                       # not initialised: no-op
    m.update(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 1, 2]]))
    before = m.get()
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}',
                            rank=0, world_size=1)
    try:
        m.all_reduce()
        empty = SegmentationMetric(3)
        empty.all_reduce()               # a rank without data still joins
    finally:
        dist.destroy_process_group()
    assert m.get() == before and empty.confusion.sum() == 0


def test_gluoncv_usage_ported_verbatim():
    """GluonCV's scripts/segmentation/train.py validation loop, with mx -> torch: labels first,
    predictions second, one entry per device; keywords name them the same way."""
    nclass, g = 5, torch.Generator().manual_seed(3)
    data_logits = torch.randn(4, nclass, 9, 7, generator=g)
    target = torch.randint(-1, nclass, (4, 9, 7), generator=g)
    metric = SegmentationMetric(nclass)
    # outputs = self.evaluator(data); outputs = [x[0] for x in outputs]
    outputs = [x for x in data_logits.chunk(2)]
    # targets = mx.gluon.utils.split_and_load(target, args.ctx, even_split=False)
    targets = list(target.chunk(2))
    metric.update(targets, outputs)
    pixAcc, mIoU = metric.get()
    ref_acc, ref_miou = _gluoncv_reference([o.argmax(1).numpy() for o in outputs],
                                           [t.numpy() for t in targets], nclass)
    assert (pixAcc, mIoU) == pytest.approx((ref_acc, ref_miou), abs=1e-12)

    by_name = SegmentationMetric(nclass)
    by_name.update(preds=data_logits, labels=target)
    assert by_name.get() == pytest.approx((pixAcc, mIoU), abs=1e-12)
    with pytest.raises(ValueError, match='2 label arrays but 1 prediction'):
        metric.update(targets, outputs[:1])

