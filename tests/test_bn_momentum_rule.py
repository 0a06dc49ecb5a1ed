"""``bn_momentum_rule``: MXNet's biased running variance or PyTorch's unbiased one (issue 13, 3)."""
import copy

import pytest
import torch
import torch.nn as nn
from timm.layers.norm_act import BatchNormAct2d, SyncBatchNormAct

from mxnetseg.config import Config, ConfigError, load_config
from mxnetseg.models import ModelConfigError, create_model
from mxnetseg.models import batchnorm as bnr
from mxnetseg.models.build import build_model

M = 0.1   # get_norm_layer's momentum (MXNet's 0.9)


def known_batch():
    g = torch.Generator().manual_seed(3)
    return torch.randn(2, 3, 2, 2, generator=g) * torch.tensor([0.5, 2.0, 7.0]).view(1, 3, 1, 1)


def stepped_var(bn, x):
    bn.train()
    bn(x)
    return bn.running_var


@pytest.mark.parametrize("rule,unbiased", [("mxnet", False), ("torch", True)])
def test_running_var_after_one_step(rule, unbiased):
    x = known_batch()
    bn = bnr.set_bn_momentum_rule(nn.Sequential(nn.BatchNorm2d(3, momentum=M)), rule)[0]
    got = stepped_var(bn, x)
    var = x.double().var(dim=(0, 2, 3), unbiased=unbiased)
    want = ((1 - M) * 1.0 + M * var).float()
    torch.testing.assert_close(got, want, rtol=2e-7, atol=0)
    other = x.double().var(dim=(0, 2, 3), unbiased=not unbiased)   # N = 8: 8/7 apart
    assert not torch.allclose(got, ((1 - M) + M * other).float(), rtol=1e-4)


def test_rule_changes_only_running_var():
    x = known_batch()
    plain = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3, momentum=M))
    mx = bnr.set_bn_momentum_rule(copy.deepcopy(plain), "mxnet")
    torch.testing.assert_close(mx.train()(x), plain.train()(x), rtol=0, atol=0)
    assert list(mx.state_dict()) == list(plain.state_dict())
    torch.testing.assert_close(mx[1].running_mean, plain[1].running_mean, rtol=0, atol=0)
    ratio = (mx[1].running_var - (1 - M)) / (plain[1].running_var - (1 - M))
    torch.testing.assert_close(ratio, torch.full((3,), 7 / 8), rtol=1e-5, atol=0)
    mx.eval()(x)   # eval uses the statistics, updates nothing
    assert int(mx[1].num_batches_tracked) == 1


@pytest.mark.parametrize("norm", ["BN", "GN"])
def test_training_step_backward_works_and_matches_torch_rule(norm):
    """The rule changes running statistics only: one SGD step gives the same weights."""
    torch.manual_seed(0)
    plain = create_model("BiSeNetR", 3, backbone="resnet18", norm_layer=norm)
    mx = bnr.set_bn_momentum_rule(copy.deepcopy(plain), "mxnet")
    x, y = torch.randn(2, 3, 64, 64), torch.randint(0, 3, (2, 64, 64))
    for model in (plain, mx):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        nn.functional.cross_entropy(model.train()(x)[0], y).backward()
        opt.step()
    for (name, a), b in zip(plain.state_dict().items(), mx.state_dict().values()):
        if name.endswith("running_var") and norm == "BN":
            assert not torch.equal(a, b) or a.numel() == 0, name
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_cumulative_momentum_none():
    x = known_batch()
    bn = bnr.set_bn_momentum_rule(nn.Sequential(nn.BatchNorm2d(3, momentum=None)), "mxnet")[0]
    # first step of a cumulative average: factor 1, so the running variance is the batch's own
    torch.testing.assert_close(stepped_var(bn, x), x.var(dim=(0, 2, 3), unbiased=False),
                               rtol=1e-6, atol=0)


def test_config_key_reaches_every_batchnorm_and_back():
    cfg = Config(model_name="BiSeNetR", backbone="resnet18", norm_layer="BN",
                 bn_momentum_rule="mxnet")
    cfg.backbone_init.manner = None
    model = build_model(cfg, 3)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns and all(isinstance(m, bnr.MXNetBatchNorm2d) for m in bns)
    assert bnr.bn_momentum_rule(model) == "mxnet"
    bnr.set_bn_momentum_rule(model, "torch")
    assert all(type(m) is nn.BatchNorm2d for m in bns)
    cfg.bn_momentum_rule = "torch"
    assert bnr.bn_momentum_rule(build_model(cfg, 3)) == "torch"


def test_group_norm_untouched():
    model = create_model("fcn", 3, backbone="resnet18", norm_layer="GN")
    before = [type(m) for m in model.modules()]
    bnr.set_bn_momentum_rule(model, "mxnet")
    assert [type(m) for m in model.modules()] == before


def test_sync_conversion_keeps_rule_and_timm_activation():
    model = create_model("LadderDenseNet", 3, norm_layer="SyncBN")
    bnr.set_bn_momentum_rule(model, "mxnet")
    acts = {n: type(m) for n, m in model.named_modules() if isinstance(m, BatchNormAct2d)}
    assert acts, "timm's DenseNet builds BN+act modules"
    synced = bnr.convert_sync_batchnorm(model)
    bns = {n: m for n, m in synced.named_modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    assert all(isinstance(m, nn.SyncBatchNorm) and isinstance(m, bnr._BiasedRunningVariance)
               for m in bns.values())
    # PyTorch's own converter would leave a SyncBatchNorm that never applies the ReLU
    assert all(isinstance(bns[n], SyncBatchNormAct) for n in acts)


def test_sync_batchnorm_alone_steps_as_batchnorm():
    """Outside a process group SyncBatchNorm runs as plain BN; the rule follows it."""
    x = known_batch()
    sync = bnr.convert_sync_batchnorm(
        bnr.set_bn_momentum_rule(nn.Sequential(nn.BatchNorm2d(3, momentum=M)), "mxnet"))[0]
    assert type(sync) is bnr.MXNetSyncBatchNorm
    want = ((1 - M) + M * x.double().var(dim=(0, 2, 3), unbiased=False)).float()
    torch.testing.assert_close(stepped_var(sync, x), want, rtol=2e-7, atol=0)


def test_synced_count_spans_the_process_group(monkeypatch):
    monkeypatch.setattr(bnr.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(bnr.dist, "get_world_size", lambda group=None: 4)
    assert bnr._synced_replicas(bnr.MXNetSyncBatchNorm(3)) == 4
    assert bnr._synced_replicas(bnr.MXNetBatchNorm2d(3)) == 1


def test_bad_rule_errors():
    with pytest.raises(ModelConfigError, match="bn_momentum_rule.*Did you mean 'mxnet'"):
        bnr.set_bn_momentum_rule(nn.BatchNorm2d(3), "mxnett")
    with pytest.raises(ConfigError, match="bn_momentum_rule"):
        Config(bn_momentum_rule="caffe").validate(check_names=False)


def test_override_from_the_command_line_form(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model_name: FCNResNet\nbackbone: resnet18\ndata_name: CamVid\n")
    assert load_config(path, ["bn_momentum_rule=mxnet"]).bn_momentum_rule == "mxnet"
    assert load_config(path).bn_momentum_rule == "torch"
