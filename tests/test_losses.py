"""Every loss against a direct per-pixel formula on a small tensor, with ignored pixels, aux
outputs, both ``loss_norm`` modes, all-ignored batches, and the config's ``criterion`` key."""
import math

import pytest
import torch

from mxnetseg.config import ConfigError, criterion_terms, LOSS_OPTIONS, load_config
from mxnetseg.tools.losses import (LOSS_CLASSES, BootstrappedCELoss, DiceLoss, FocalLoss,
                                   MixedLoss, MixedSmoothCELoss, MixSoftmaxCrossEntropy,
                                   SmoothCELoss, WeightedCELoss, build_criterion)

IGN = -1


def _data(seed=0, n=2, k=3, h=2, w=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, h, w, generator=g) * 2
    target = torch.randint(0, k, (n, h, w), generator=g)
    target[0, 0, :2] = IGN
    target[1, 1, 2] = IGN
    return logits, target


def _pixels(logits, target):
    """(probabilities list, class) for every valid pixel, computed with plain math."""
    n, k, h, w = logits.shape
    for b in range(n):
        for i in range(h):
            for j in range(w):
                y = int(target[b, i, j])
                if y == IGN:
                    continue
                z = [float(logits[b, c, i, j]) for c in range(k)]
                e = [math.exp(v) for v in z]
                yield [v / sum(e) for v in e], y


# per-pixel formulas, written out independently of the implementation
FORMULAS = {
    "ce": (MixSoftmaxCrossEntropy(), lambda p, y: -math.log(p[y])),
    "focal": (FocalLoss(gamma=2.0), lambda p, y: -(1 - p[y]) ** 2 * math.log(p[y])),
    "focal_g0.5": (FocalLoss(gamma=0.5), lambda p, y: -(1 - p[y]) ** 0.5 * math.log(p[y])),
    "weighted_ce": (WeightedCELoss([0.2, 1.0, 3.0]),
                    lambda p, y: -[0.2, 1.0, 3.0][y] * math.log(p[y])),
    "smooth_ce": (SmoothCELoss(smooth_alpha=0.1), lambda p, y: -sum(
        (0.9 if c == y else 0.1 / (len(p) - 1)) * math.log(p[c]) for c in range(len(p)))),
    "mixed_smooth_ce": (MixedSmoothCELoss(), lambda p, y: -sum(
        (0.95 if c == y else 0.05 / (len(p) - 1)) * math.log(p[c]) for c in range(len(p)))),
}


@pytest.mark.parametrize("key", list(FORMULAS))
def test_pixel_losses_match_the_formula(key):
    crit, f = FORMULAS[key]
    logits, target = _data()
    values = [f(p, y) for p, y in _pixels(logits, target)]
    assert len(values) == 9
    assert crit(logits, target).item() == pytest.approx(sum(values) / len(values), rel=1e-5)
    # loss_norm original, one GPU: as the original's class of this loss scaled it. SoftmaxOutput
    # losses: the valid mean / batch; log_softmax ones: per-image mean over all 6 pixels / batch
    orig = type(crit).__new__(type(crit))
    orig.__dict__.update(crit.__dict__, norm="original")
    want = sum(values) / (len(values) if orig.original_scale == "group_valid" else 6) / 2
    assert orig.original_scale == ("image_pixels" if key.startswith(("focal", "weighted"))
                                   else "group_valid")
    assert orig(logits, target).item() == pytest.approx(want, rel=1e-5)


def _dice(logits, target, smooth=1.0, e=2.0):
    n, k = logits.shape[:2]
    out = []
    for b in range(n):
        inter = den = 0.0
        for p, y in _pixels(logits[b:b + 1], target[b:b + 1]):
            inter += 2 * p[y]
            den += sum(q ** e for q in p) + 1.0
        out.append(1 - (inter + smooth) / (den + smooth))
    return sum(out) / n


def test_dice_matches_the_formula():
    logits, target = _data(1)
    assert DiceLoss()(logits, target).item() == pytest.approx(_dice(logits, target), rel=1e-5)
    assert DiceLoss(smooth=0.5, exponent=1.0)(logits, target).item() == pytest.approx(
        _dice(logits, target, 0.5, 1.0), rel=1e-5)
    # original: one value per image, summed, / batch (the original's DiceLoss is per image)
    assert DiceLoss(norm="original")(logits, target).item() == pytest.approx(
        _dice(logits, target), rel=1e-5)


def test_bootstrapped_ce_both_branches():
    logits, target = _data(2)
    ce = sorted((-math.log(p[y]) for p, y in _pixels(logits, target)), reverse=True)
    # threshold branch: more than min_k pixels above loss_th -> mean of all of those
    th = ce[4] - 1e-4
    above = [v for v in ce if v > th]
    assert len(above) == 5
    got = BootstrappedCELoss(min_k=3, loss_th=th)(logits, target).item()
    assert got == pytest.approx(sum(above) / 5, rel=1e-5)
    # top-k branch: the (k+1)-th loss is not above loss_th -> mean of the k largest
    got = BootstrappedCELoss(min_k=3, loss_th=ce[3] + 1e-4)(logits, target).item()
    assert got == pytest.approx(sum(ce[:3]) / 3, rel=1e-5)
    # fewer valid pixels than min_k: the mean of all valid pixels (ignored ones never count)
    got = BootstrappedCELoss(min_k=100, loss_th=0.0)(logits, target).item()
    assert got == pytest.approx(sum(ce) / len(ce), rel=1e-5)


ALL = [MixSoftmaxCrossEntropy(), FocalLoss(), WeightedCELoss([1.0, 2.0, 0.5]), SmoothCELoss(0.1),
       MixedSmoothCELoss(), BootstrappedCELoss(min_k=4), DiceLoss(),
       MixedLoss([MixSoftmaxCrossEntropy(), DiceLoss()], [1.0, 0.5])]


@pytest.mark.parametrize("crit", ALL, ids=lambda c: c.describe())
@pytest.mark.parametrize("norm", ["valid_mean", "original"])
def test_all_ignored_batch_gives_zero_loss_and_zero_grad(crit, norm):
    crit.norm = norm
    for sub in getattr(crit, "losses", ()):
        sub.norm = norm
    logits = torch.randn(2, 3, 2, 2, requires_grad=True)
    aux = torch.randn(2, 3, 2, 2, requires_grad=True)
    target = torch.full((2, 2, 2), IGN)
    loss = crit((logits, aux), target)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))
    assert torch.equal(aux.grad, torch.zeros_like(aux))


@pytest.mark.parametrize("crit", ALL, ids=lambda c: c.describe())
def test_aux_weight_weights_every_aux_output(crit):
    logits, target = _data(3)
    aux1, aux2 = logits.flip(1), logits * 0.5
    crit.norm, crit.aux_weight = "valid_mean", 1.0
    one = [crit(x, target).item() for x in (logits, aux1, aux2)]
    crit.aux_weight = [0.4, 0.2]
    both = crit((logits, aux1, aux2), target).item()
    assert both == pytest.approx(one[0] + 0.4 * one[1] + 0.2 * one[2], rel=1e-5)
    with pytest.raises(ConfigError, match="2 values for 1 aux"):
        crit((logits, aux1), target)


def test_focal_split_over_ranks_equals_whole_batch():
    logits, target = _data(4, n=4)
    crit = FocalLoss(gamma=1.5)
    n_valid = (target != IGN).sum()
    halves = [crit(logits[i::2], target[i::2], n_valid, world_size=2) for i in range(2)]
    assert (sum(halves) / 2).item() == pytest.approx(crit(logits, target).item(), rel=1e-5)


def test_smooth_ce_gradient_is_mxnet_softmaxoutput():
    """d/dz = softmax - q with q = 1 - a on y and a / (K - 1) elsewhere, over the valid count."""
    logits, target = _data(5)
    logits.requires_grad_(True)
    SmoothCELoss(smooth_alpha=0.1)(logits, target).backward()
    valid = target != IGN
    q = torch.full_like(logits, 0.1 / 2).scatter_(1, target.clamp_min(0).unsqueeze(1), 0.9)
    want = (logits.detach().softmax(1) - q) * valid.unsqueeze(1) / valid.sum()
    assert torch.allclose(logits.grad, want, atol=1e-6)


def test_mixture_is_the_weighted_sum():
    logits, target = _data(6)
    crit = build_criterion([{"name": "ce", "weight": 1.0}, {"name": "dice", "weight": 0.5}],
                           aux_weight=0.4)
    assert isinstance(crit, MixedLoss)
    aux = logits.flip(1)
    ce, dice = MixSoftmaxCrossEntropy(), DiceLoss()
    want = (ce(logits, target) + 0.5 * dice(logits, target)
            + 0.4 * (ce(aux, target) + 0.5 * dice(aux, target)))
    assert crit((logits, aux), target).item() == pytest.approx(want.item(), rel=1e-5)
    assert crit.describe() == "MixedLoss(1*MixSoftmaxCrossEntropy + 0.5*DiceLoss(smooth=1.0, " \
                              "exponent=2.0))"


# ---------------------------------------------------------------------------- config
def test_every_config_loss_has_a_class():
    assert set(LOSS_OPTIONS) == set(LOSS_CLASSES)


@pytest.mark.parametrize("value, cls, attrs", [
    (None, MixSoftmaxCrossEntropy, {}),
    ("focal", FocalLoss, {"gamma": 2.0}),
    ({"name": "FocalLoss", "gamma": 0.5}, FocalLoss, {"gamma": 0.5}),
    ({"name": "weighted_ce", "class_weight": [1, 2, 3]}, WeightedCELoss,
     {"class_weight": [1.0, 2.0, 3.0]}),
    ({"name": "bootstrap", "min_k": 64, "loss_th": 0.5}, BootstrappedCELoss,
     {"min_k": 64, "loss_th": 0.5}),
    ({"name": "DiceLoss"}, DiceLoss, {"smooth": 1.0, "exponent": 2.0}),
    ("MixedSmoothCELoss", MixedSmoothCELoss, {"smooth_alpha": 0.05}),
    ({"name": "mixed", "losses": ["ce", {"name": "dice", "weight": 0.3}]}, MixedLoss,
     {"coef": [1.0, 0.3]}),
])
def test_config_criterion_builds_the_loss(value, cls, attrs):
    cfg = load_config(None, {"criterion": value, "aux_weight": 0.4, "loss_norm": "original"},
                      check_names=False)
    crit = build_criterion(cfg.criterion, cfg.aux_weight, IGN, cfg.loss_norm, nclass=3)
    assert type(crit) is cls
    assert crit.aux_weight == 0.4 and crit.norm == "original"
    for key, want in attrs.items():
        assert getattr(crit, key) == want


def test_criterion_from_command_line_overrides():
    cfg = load_config(None, ["criterion.name=focal", "criterion.gamma=1"], check_names=False)
    assert criterion_terms(cfg.criterion) == [{"name": "focal", "weight": 1.0, "gamma": 1.0}]


@pytest.mark.parametrize("value, message", [
    ("fokal", r"unknown loss 'fokal'. Did you mean 'focal'\?"),
    ({"name": "dise"}, r"Did you mean 'dice'\?"),
    ({"name": "focal", "gama": 2}, r"loss 'focal' has no option 'gama'. Did you mean 'gamma'\?"),
    ({"name": "focal", "gamma": -1}, r"criterion.gamma must be >= 0, got -1.0"),
    ({"name": "focal", "gamma": "big"}, r"criterion.gamma: 'big' is not a valid float"),
    ("weighted_ce", r"loss 'weighted_ce' needs class_weight"),
    ([{"name": "ce"}, {"name": "dice", "weight": "x"}], r"criterion\[1\].weight"),
    ([], "empty list"),
    (3, "expected a loss name or a mapping"),
    ({"name": "mixed"}, "a mixture is"),
])
def test_bad_criterion_is_a_config_error(value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, {"criterion": value}, check_names=False)


def test_class_weight_length_must_match_the_dataset():
    with pytest.raises(ConfigError, match="class_weight has 2 values but the dataset has 3"):
        build_criterion({"name": "weighted_ce", "class_weight": [1, 2]}, nclass=3)


def test_trainer_builds_the_configured_criterion(toy_root, tmp_path):
    """A mixture with aux outputs trains and validates; the run log names the criterion."""
    from mxnetseg.tools.logging import read_run_log
    from mxnetseg.tools.trainer import train
    cfg = load_config(None, {
        "model_name": "fcn", "backbone": "resnet18", "data_name": "toy", "crop_size": 32,
        "base_size": 48, "epochs": 1, "bs_train": 64, "bs_val": 40, "workers": 0,
        "preflight": False, "backbone_init": {"manner": None}, "norm_layer": "BN", "aux": True,
        "aux_weight": 0.4,
        "data_root": str(toy_root), "ckpt_dir": str(tmp_path), "wandb_mode": "disabled",
        "criterion": [{"name": "focal", "gamma": 1}, {"name": "dice", "weight": 0.5}]})
    result = train(cfg)
    assert math.isfinite(result["val_loss"]) and result["step"] == 3
    head = read_run_log(result["log"])[0]
    assert head["criterion"] == ("MixedLoss(1*FocalLoss(gamma=1.0) + "
                                 "0.5*DiceLoss(smooth=1.0, exponent=2.0))")
