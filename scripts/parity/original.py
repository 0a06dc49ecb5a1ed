"""Run the ORIGINAL MXNetSeg models under MXNet: parameter counts and parity fixtures.

Run under a throwaway MXNet environment (scripts/parity/requirements.txt), never the project's,
from the repository root. ORIG is a git clone of BebDong/MXNetSeg (its HEAD is exported to a
temporary folder and its commit recorded) or an exported tree holding ``mxnetseg/`` and a
``COMMIT`` file:

    /tmp/mxvenv/bin/python scripts/parity/original.py refresh ORIG tests/fixtures/mxnet
    /tmp/mxvenv/bin/python scripts/parity/original.py counts ORIG \
        tests/fixtures/original_counts.json [MODEL ...]
    /tmp/mxvenv/bin/python scripts/parity/original.py fixture ORIG tests/fixtures/mxnet \
        TAG MODEL BACKBONE NCLASS CROP [aux=1] [dilate=1] [key=value ...]
    /tmp/mxvenv/bin/python scripts/parity/original.py names ORIG OUT.json \
        MODEL BACKBONE NCLASS CROP [aux=1] [dilate=1] [key=value ...]
    /tmp/mxvenv/bin/python scripts/parity/original.py reader ORIG \
        tests/fixtures/mxnet/small.params
    /tmp/mxvenv/bin/python scripts/parity/original.py cls ORIG tests/fixtures/mxnet \
        TAG [light=1]

Every command records what it wrote in ``MANIFEST.json`` and ``GENERATION.log`` beside the
files (scripts/parity/provenance.py): the command, the original's commit, the MXNet/GluonCV
versions and each file's sha256.

``counts`` builds every row of ``count_rows()`` (model, backbone, nclass, aux, crop, extra
kwargs) and records trainable parameters (grad_req != 'null'), all parameters (+ BN running
statistics) and, with aux on, the number of outputs.

``fixture`` builds one model (BACKBONE ``-`` for models that take none), sets every weight from
``seeded_array`` (a generator seeded by crc32 of the parameter name; tests/parity.py has the
same function), runs one fixed input in inference mode and writes ``<tag>.json`` (model spec +
[[name, shape, sum], ...]), ``<tag>_input.npy`` and ``<tag>_out.npy`` (the outputs stacked).
No weights file is stored. SETR's fixtures use a small ViT the original lacks (``SMALL``).
``names`` writes only [[name, shape], ...] for variants too big to run in the tests (``NAMES``
lists the stored ones). ``reader`` writes ``small.params``, a real ``mx.nd.save`` file of
several dtypes for the reader's test. ``cls`` writes ``<tag>.params``, a seeded EPRNet-Cls
ImageNet classifier (``CLS_WIDTHS``, ``CLS_CLASSES``: tiny; the names are those of the full-size
net) saved by ``save_parameters`` as the original's ``weights/eprnetcls/*.params`` were, with
``<tag>_input.npy`` / ``<tag>_out.npy`` (its logits in inference mode). ``refresh`` rewrites
everything in the folder: every fixture from its recorded spec, the ``NAMES`` files,
``small.params`` and the ``CLS`` files.
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
# ViT sizes the original lacks, for SETR fixtures: name -> (patch, depth, embed_dim, mlp hidden,
# heads), as in mxnetseg/models/vit.py. The original SETR asserts backbone == 'vit_large_16', so
# its builder is swapped for the same get_vit at the small size; the decoders take their input
# channels from the data, so their structure is unchanged.
SMALL = {"vit_mini_16": (16, 24, 64, 128, 4)}
# names-only files (tag -> spec args as on the command line): every name of the big variants
R101 = ("resnet101", "19", "64", "aux=1", "dilate=1")
NAMES = {
    "fcn_r50_names": ("FCNResNet", "resnet50", "5", "64", "aux=1", "dilate=1"),
    "pspnet_r101_names": ("PSPNet", *R101),
    "deeplabv3_r101_names": ("DeepLabv3", *R101),
    "deeplabv3plusr_r101_names": ("DeepLabv3PlusR", *R101),
    "denseaspp_r101_names": ("DenseASPP", *R101),
    "danet_r101_names": ("DANet", *R101),
    "att2scale_r101_names": ("AttentionToScale", *R101),
}
READER = "small.params"
# EPRNet-Cls classifier fixtures: tag -> light; widths/classes small, names as the full net's
CLS = {"eprnetcls_tiny": False, "eprnetcls_light_tiny": True}
CLS_WIDTHS, CLS_CLASSES, CLS_CROP = (2, 4, 8, 16), 10, 32   # doubling, as (16, 32, 64, 128)


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
    # this folder (on sys.path as the script's own) holds gluoncv.py, which would shadow GluonCV
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(Path(root).resolve()))
    import importlib
    import mxnet as mx
    from mxnetseg.utils import MODELS as REG
    importlib.import_module("mxnetseg.models")   # fills the registry
    return mx, REG


def build(mx, REG, spec, forward=True):
    if spec["backbone"] in SMALL:
        setr = sys.modules["mxnetseg.models.setr"]
        from mxnetseg.models.backbone.vit import get_vit
        large, cfg = setr.vit_large_16, SMALL[spec["backbone"]]
        setr.vit_large_16 = lambda pretrained=False, **kw: get_vit(*cfg, pretrained, **kw)
        try:
            return build(mx, REG, dict(spec, backbone="vit_large_16"), forward)
        finally:
            setr.vit_large_16 = large
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
            run = subprocess.run([sys.executable, __file__, "counts-part", str(root), str(part),
                                  model], check=True, capture_output=True, text=True)
            print(run.stdout, end="", flush=True)
            rows += json.loads(part.read_text())
            part.unlink()
        Path(out_path).write_text(json.dumps(rows, indent=0) + "\n")
        return [out_path]
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
    return [out_path]


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
    """specs: {tag: spec}. Returns the paths written."""
    mx, REG = load_original(root)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
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
        paths = out / f"{tag}.json", out / f"{tag}_input.npy", out / f"{tag}_out.npy"
        paths[0].write_text(json.dumps(dict(spec=spec, params=rows), indent=0))
        np.save(paths[1], x)
        np.save(paths[2], np.stack(y))
        written += paths
        print(tag, len(rows), "params; outputs", [t.shape for t in y],
              "abs max %.3g std %.3g" % (max(np.abs(t).max() for t in y), np.std(y[0])),
              flush=True)
    return written


def names(root, out_path, spec):
    """Names and shapes only (big variants: proves every name maps, without running)."""
    mx, REG = load_original(root)
    net, _ = build(mx, REG, spec, forward=False)
    rows = [[n, list(p.shape)] for n, p in net._collect_params_with_prefix().items()]
    Path(out_path).write_text(json.dumps(rows, separators=(",", ":")) + "\n")
    print(out_path, len(rows), "names", flush=True)
    return [out_path]


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
    print(out_path, {k: (v.shape, str(v.dtype)) for k, v in mx.nd.load(str(out_path)).items()},
          flush=True)
    return [out_path]


def cls_fixture(root, out_dir, tag, light):
    """A seeded EPRNet-Cls (the original's ImageNet trunk + classifier) as ``save_parameters``
    writes it, plus one input and its logits."""
    mx, _ = load_original(root)
    from mxnetseg.models.backbone.eprnet_cls import EPRNetCls
    net = EPRNetCls(light=light, stage_channels=CLS_WIDTHS, classes=CLS_CLASSES)
    net.initialize()
    x = np.random.RandomState(0).standard_normal((2, 3, CLS_CROP, CLS_CROP)).astype(np.float32)
    net(mx.nd.array(x))                            # settles the deferred shapes
    for name, p in net._collect_params_with_prefix().items():
        p.set_data(mx.nd.array(seeded_array(name, p.shape)))
    y = net(mx.nd.array(x)).asnumpy()
    out = Path(out_dir)
    paths = out / f"{tag}.params", out / f"{tag}_input.npy", out / f"{tag}_out.npy"
    net.save_parameters(str(paths[0]))
    np.save(paths[1], x)
    np.save(paths[2], y)
    print(tag, "light" if light else "full", len(net._collect_params_with_prefix()), "params;",
          "logits", y.shape, "abs max %.3g" % np.abs(y).max(), flush=True)
    return list(paths)


def refresh(root, out_dir):
    """Every fixture already in ``out_dir`` by its recorded spec, the NAMES files, READER."""
    specs = {}
    for f in sorted(Path(out_dir).glob("*.json")):
        data = json.loads(f.read_text())
        if isinstance(data, dict) and "spec" in data:
            specs[f.stem] = data["spec"]
    written = fixture(root, out_dir, specs)
    for tag, args in NAMES.items():
        written += names(root, Path(out_dir) / f"{tag}.json", parse_spec(args))
    for tag, light in CLS.items():
        written += cls_fixture(root, out_dir, tag, light)
    return written + reader_fixture(root, Path(out_dir) / READER)


COMMANDS = {   # name -> (argument count after the command, or the least with "+", function)
    "counts": ("2+", lambda a: counts(a[0], a[1], a[2:])),
    "fixture": ("7+", lambda a: fixture(a[0], a[1], {a[2]: parse_spec(a[3:])})),
    "names": ("6+", lambda a: names(a[0], a[1], parse_spec(a[2:]))),
    "reader": ("2", lambda a: reader_fixture(a[0], a[1])),
    "refresh": ("2", lambda a: refresh(a[0], a[1])),
    "cls": ("3+", lambda a: cls_fixture(a[0], a[1], a[2], a[3:] == ["light=1"])),
}


def main(argv):
    if argv[:1] == ["counts-part"]:            # a child of ``counts``: the parent records
        return counts(argv[1], argv[2], argv[3:])
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    need, run = COMMANDS.get(cmd, ("-1", None))
    if run is None or not (len(args) >= int(need[:-1]) if need.endswith("+")
                           else len(args) == int(need)):
        sys.exit(__doc__)
    sys.path.insert(0, str(Path(__file__).parent))
    from provenance import Run, resolve_original
    code, commit = resolve_original(args[0])
    with Run(commit) as run_:
        run_.wrote(*run([str(code), *args[1:]]))


if __name__ == "__main__":
    main(sys.argv[1:])
