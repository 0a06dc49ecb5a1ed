"""Run the ORIGINAL MXNetSeg models under MXNet: parameter counts and parity fixtures.

Run under a throwaway MXNet environment (scripts/parity/requirements.txt), never the project's:

    git -C /path/to/BebDong+MXNetSeg archive HEAD -- mxnetseg | tar -x -C /tmp/mxorig
    /tmp/mxvenv/bin/python scripts/parity/original.py counts /tmp/mxorig \
        tests/fixtures/original_counts.json [MODEL ...]
    /tmp/mxvenv/bin/python scripts/parity/original.py fixture /tmp/mxorig tests/fixtures/mxnet \
        TAG MODEL BACKBONE NCLASS CROP [aux=1] [dilate=1] [key=value ...]
    /tmp/mxvenv/bin/python scripts/parity/original.py refresh /tmp/mxorig tests/fixtures/mxnet
    /tmp/mxvenv/bin/python scripts/parity/original.py names /tmp/mxorig OUT.json \
        MODEL BACKBONE NCLASS CROP [aux=1] [dilate=1] [key=value ...]
    /tmp/mxvenv/bin/python scripts/parity/original.py reader /tmp/mxorig \
        tests/fixtures/mxnet/small.params

``counts`` builds every row of ``count_rows()`` (model, backbone, nclass, aux, crop, extra
kwargs) and records trainable parameters (grad_req != 'null'), all parameters (+ BN running statistics) and,
with aux on, the number of outputs.

``fixture`` builds one model (BACKBONE ``-`` for models that take none), sets every weight from
``seeded_array`` (a generator seeded by crc32 of the parameter name; tests/parity.py has the
same function), runs one fixed input in inference mode and writes ``<tag>.json`` (model spec +
[[name, shape, sum], ...]), ``<tag>_input.npy`` and ``<tag>_out.npy`` (the outputs stacked).
SETR's fixtures use a small ViT the original lacks: make them with original_setr_small.py.
No weights file is stored. ``refresh`` rebuilds every fixture in the folder from its recorded
spec. ``names`` writes only [[name, shape], ...] (e.g. ``<model>_r101_names.json``: resnet101,
nclass 19, crop 64, aux=1 dilate=1), for variants too big to run in the tests. ``reader``
writes ``small.params``, a real ``mx.nd.save`` file of several dtypes for the reader's test.
"""
import json
import sys
import zlib
from pathlib import Path

import numpy as np

R = ("resnet50", "resnet101")
# model -> (backbones, default dilate, extra kwargs variants)
MODELS = {
    "FCNResNet": (("resnet18", "resnet50", "resnet101"), True, ({},)),
    "FCNMobileNet": (("mobilenet_v2_1_0", "mobilenet_v2_0_25"), False, ({},)),
    "PSPNet": (R, True, ({},)),
    "DeepLabv3": (R, True, ({},)),
    "DeepLabv3PlusR": (R, True, ({},)),
    "DeepLabv3PlusX": (("xception65",), True, ({},)),
    "DenseASPP": (R, True, ({},)),
    "DANet": (R, True, ({},)),
    "AttentionToScale": (R, True, ({},)),
    "BiSeNetR": (("resnet18",), False, ({},)),
    "BiSeNetX": (("xception39",), False, ({},)),
    "SwiftResNet": (("resnet18",), False, ({},)),
    "SwiftResNetPr": (("resnet18",), False, ({},)),
    "ACFNet": (R, True, ({},)),
    "AlignSeg": (R, False, ({},)),
    "AttaNet": (("resnet18",), False, ({},)),
    "FaPN": (R, False, ({},)),
    "GFFNet": (R, True, ({},)),
    "LadderDenseNet": (("densenet121", "densenet161", "densenet169", "densenet201"), False, ({},)),
    "SeENet": (R, True, ({},)),
    "SemanticFPN": (R, False, ({},)),
    "EPRNet": ((None,), False, ({"light": False}, {"light": True})),
    "CANetv1": (R, True, ({},)),
    "CANetv2": (R, True, ({},)),
    "SETR": (("vit_large_16",), False,
             ({"decoder": "pup"}, {"decoder": "naive"}, {"decoder": "mla"})),
}
CROP = {"SETR": 64}


def count_rows():
    for model, (backbones, dilate, variants) in MODELS.items():
        for backbone in backbones:
            for kw in variants:
                first = backbone == backbones[0]
                for nclass, aux in ((19, False), (19, True), (21, False), (150, False)):
                    if nclass != 19 and not first:
                        continue       # 21/150 on the default backbone only
                    yield dict(model=model, backbone=backbone, nclass=nclass, aux=aux,
                               dilate=dilate, crop=CROP.get(model, 128), kwargs=kw)
    # SETR's pos-embed grows with the crop: the SEED-MAP row (768) too
    yield dict(model="SETR", backbone="vit_large_16", nclass=19, aux=False, dilate=False,
               crop=768, kwargs={"decoder": "pup"})


def load_original(root):
    sys.path.insert(0, str(Path(root).resolve()))
    import importlib
    import mxnet as mx
    from mxnetseg.utils import MODELS as REG
    importlib.import_module("mxnetseg.models")   # fills the registry
    return mx, REG


def build(mx, REG, spec, forward=True):
    kw = dict(nclass=spec["nclass"], aux=spec["aux"], crop_size=spec["crop"],
              pretrained_base=False, dilate=spec["dilate"], **spec["kwargs"])
    if spec["backbone"] is not None:
        kw["backbone"] = spec["backbone"]
    net = REG[spec["model"]](**kw)
    net.initialize()
    out = None
    params = net._collect_params_with_prefix()
    if forward or any(0 in p.shape for p in params.values()):
        out = net(mx.nd.zeros((1, 3, spec["crop"], spec["crop"])))
        out = out if isinstance(out, (tuple, list)) else (out,)
    return net, out


def counts(root, out_path, models=()):
    """Without ``models``: one fresh process per model (MXNet keeps the memory of every net
    built, ~24 GB by CANetv2), rows merged into ``out_path``."""
    if not models:
        import subprocess
        rows = []
        for model in MODELS:
            part = Path(f"{out_path}.{model}.part")
            subprocess.run([sys.executable, __file__, "counts", root, str(part), model],
                           check=True)
            rows += json.loads(part.read_text())
            part.unlink()
        Path(out_path).write_text(json.dumps(rows, indent=0) + "\n")
        return
    mx, REG = load_original(root)
    rows = []
    for spec in (s for s in count_rows() if s["model"] in models):
        net, out = build(mx, REG, spec, forward=spec["aux"] or spec["model"] != "SETR")
        params = net._collect_params_with_prefix()
        trainable = sum(int(np.prod(p.shape)) for p in params.values() if p.grad_req != "null")
        total = sum(int(np.prod(p.shape)) for p in params.values())
        row = dict(spec, trainable=trainable, all=total)
        if out is not None:
            row["outputs"] = len(out)
        rows.append(row)
        print(json.dumps(row), flush=True)
    Path(out_path).write_text(json.dumps(rows, indent=0) + "\n")


def seeded_array(name, shape):
    """Deterministic, non-trivial values for parameter ``name``: He-scaled conv/dense weights,
    gamma in [0.5, 1.5], beta/mean/bias ~ N(0, 0.1^2), running_var in [0.5, 2]."""
    rs = np.random.RandomState(zlib.crc32(name.encode("utf-8")))
    last = name.rsplit(".", 1)[-1]
    if last.endswith("weight") and len(shape) >= 2:   # also DCN offset_weight etc.
        fan_in = int(np.prod(shape[1:]))
        return (rs.standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(np.float32)
    if last == "gamma":
        return rs.uniform(0.5, 1.5, shape).astype(np.float32)
    if last == "running_var":
        return rs.uniform(0.5, 2.0, shape).astype(np.float32)
    return (rs.standard_normal(shape) * 0.1).astype(np.float32)


def parse_spec(args):
    """MODEL BACKBONE NCLASS CROP [aux=1] [dilate=1] [key=value ...] -> a spec dict (values are
    JSON where they parse as JSON, else strings; BACKBONE '-' = the model takes none)."""
    model, backbone, nclass, crop, *rest = args
    spec = dict(model=model, backbone=None if backbone == "-" else backbone, nclass=int(nclass),
                aux=False, dilate=False, crop=int(crop), kwargs={})
    for item in rest:
        key, _, value = item.partition("=")
        try:
            value = json.loads(value)
        except ValueError:
            pass
        if key in ("aux", "dilate"):
            spec[key] = bool(value)
        else:
            spec["kwargs"][key] = value
    return spec


def fixture(root, out_dir, specs):
    """specs: {tag: spec}."""
    mx, REG = load_original(root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for tag, spec in specs.items():
        net, _ = build(mx, REG, spec)
        rows = []
        for name, p in net._collect_params_with_prefix().items():
            arr = seeded_array(name, p.shape)
            p.set_data(mx.nd.array(arr, dtype=np.float32))
            rows.append([name, list(p.shape), float(arr.astype(np.float64).sum())])
        crop = spec["crop"]
        x = np.random.RandomState(0).standard_normal((1, 3, crop, crop)).astype(np.float32)
        y = net(mx.nd.array(x))                    # not under autograd.record: inference mode
        y = [t.asnumpy() for t in (y if isinstance(y, (tuple, list)) else (y,))]
        (out / f"{tag}.json").write_text(json.dumps(dict(spec=spec, params=rows), indent=0))
        np.save(out / f"{tag}_input.npy", x)
        np.save(out / f"{tag}_out.npy", np.stack(y))
        print(tag, len(rows), "params; outputs", [t.shape for t in y],
              "abs max %.3g std %.3g" % (max(np.abs(t).max() for t in y), np.std(y[0])))


def names(root, out_path, spec):
    """Names and shapes only (big variants: proves every name maps, without running)."""
    mx, REG = load_original(root)
    net, _ = build(mx, REG, spec, forward=False)
    rows = [[n, list(p.shape)] for n, p in net._collect_params_with_prefix().items()]
    Path(out_path).write_text(json.dumps(rows, separators=(",", ":")) + "\n")
    print(out_path, len(rows), "names")


def reader_fixture(root, out_path):
    """A real ``mx.nd.save`` file for the numpy reader's test: the seeded FCNResNet-R18 head's
    BN and last conv, one (2, 3) array per dtype under ``arg:`` names, one ``aux:`` vector."""
    mx, REG = load_original(root)
    spec = dict(model="FCNResNet", backbone="resnet18", nclass=5, aux=True, dilate=True,
                crop=64, kwargs={})
    params = build(mx, REG, spec, forward=False)[0]._collect_params_with_prefix()
    small = {n: mx.nd.array(seeded_array(n, p.shape)) for n, p in params.items()
             if n.startswith(("head.conv2.", "head.conv1.bn."))}
    rs = np.random.RandomState(1)
    for dt in ("float32", "float64", "float16", "uint8", "int32", "int8", "int64"):
        small[f"arg:dtype_{dt}"] = mx.nd.array((rs.uniform(0, 100, (2, 3))).astype(dt), dtype=dt)
    small["aux:vector"] = mx.nd.array(np.arange(7, dtype=np.float32))
    mx.nd.save(str(out_path), small)
    print(out_path, {k: (v.shape, str(v.dtype)) for k, v in mx.nd.load(str(out_path)).items()})


def refresh_specs(out_dir):
    """Every fixture already in ``out_dir``, by its recorded spec."""
    specs = {}
    for f in sorted(Path(out_dir).glob("*.json")):
        data = json.loads(f.read_text())
        if isinstance(data, dict) and "spec" in data:
            specs[f.stem] = data["spec"]
    return specs


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "counts" and len(sys.argv) >= 4:
        counts(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif cmd == "fixture" and len(sys.argv) >= 9:
        fixture(sys.argv[2], sys.argv[3], {sys.argv[4]: parse_spec(sys.argv[5:])})
    elif cmd == "names" and len(sys.argv) >= 8:
        names(sys.argv[2], sys.argv[3], parse_spec(sys.argv[4:]))
    elif cmd == "reader" and len(sys.argv) == 4:
        reader_fixture(sys.argv[2], sys.argv[3])
    elif cmd == "refresh" and len(sys.argv) == 4:
        fixture(sys.argv[2], sys.argv[3], refresh_specs(sys.argv[3]))
    else:
        sys.exit(__doc__)
