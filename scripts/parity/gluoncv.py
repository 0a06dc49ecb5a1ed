"""Run GluonCV's segmentation model zoo under MXNet: parameter counts and parity fixtures.

Run under the throwaway MXNet environment (scripts/parity/requirements.txt + gluoncv), never
the project's; the package never imports this file:

    /tmp/mxvenv/bin/python scripts/parity/gluoncv.py counts tests/fixtures/gluoncv_counts.json \
        [NAME ...]
    /tmp/mxvenv/bin/python scripts/parity/gluoncv.py fixture tests/fixtures/gcv \
        TAG NAME [crop=64] [step=2]
    /tmp/mxvenv/bin/python scripts/parity/gluoncv.py refresh tests/fixtures/gcv
    /tmp/mxvenv/bin/python scripts/parity/gluoncv.py classifier tests/fixtures/gcv_cls \
        TAG NAME [crop=224]

``counts`` builds each zoo name (all of them without NAME) with
``gluoncv.model_zoo.get_model(name, pretrained=False, pretrained_base=False)``, one fresh
process per name (MXNet keeps the memory of every net built), runs one input when a shape is
still deferred, and records trainable parameters (grad_req != 'null'), all parameters (+ BN
running statistics) and the number of outputs; the file starts with its provenance (versions,
command).

``fixture`` builds one zoo name at a small crop, sets every weight from ``seeded_array``
(scripts/parity/original.py's rule: a generator seeded by crc32 of the parameter name), runs one
fixed input in inference mode and writes ``<tag>.json`` (spec + [[name, shape, sum], ...]),
``<tag>_input.npy`` and ``<tag>_out.npy``: every output (one smaller than the input resized to
it, as GluonCV's ICNetLoss does), sampled every ``step`` pixels to keep the fixture small. No weights file is stored: the test writes the same weights as a
``save_parameters`` file (names without arg:/aux: prefixes, as GluonCV's model store ships them).
``refresh`` rebuilds every fixture in the folder from its recorded spec.

``classifier`` does the same for one of GluonCV's ImageNet classifiers (e.g. ``densenet121``,
whose trunk a backbone of ours is): the json and the logits of a seeded input, for the test
that loads the seeded weights written as GluonCV's ``.params`` into our backbone.
"""
import importlib.util
import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

# this file's own name would shadow the gluoncv package: drop its folder from the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

_spec = importlib.util.spec_from_file_location(
    "parity_original", Path(__file__).with_name("original.py"))
_original = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_original)
seeded_array = _original.seeded_array

COUNT_CROP = 128      # parameters do not depend on the crop; a small one keeps the forward cheap


def zoo_names():
    """GluonCV's segmentation zoo names, as in its model_zoo._models (minus the _int8 ones)."""
    from gluoncv.model_zoo import get_model_list
    families = ("fcn_", "psp_", "deeplab_", "danet_", "icnet_", "fastscnn_")
    return [n for n in get_model_list() if n.startswith(families) and not n.endswith("_int8")]


def build(name, crop, forward=True):
    import mxnet as mx
    from gluoncv.model_zoo import get_model
    net = get_model(name, pretrained=False, pretrained_base=False, crop_size=crop)
    import warnings
    warnings.filterwarnings("ignore", message="Parameter .* is already initialized")
    net.initialize()          # the trunk (pretrained_base=False) is left uninitialised
    params = net._collect_params_with_prefix()
    out = None
    if forward or any(0 in p.shape for p in params.values()):
        out = net(mx.nd.zeros((1, 3, crop, crop)))
        out = out if isinstance(out, (tuple, list)) else (out,)
    return net, out


def gluoncv_version():
    """The installed distribution's version (gluoncv 0.10.5.post0 calls itself 0.11.0)."""
    from importlib.metadata import version
    return version("gluoncv")


def provenance(command):
    import mxnet as mx
    return {"made_by": "scripts/parity/gluoncv.py", "command": command,
            "gluoncv": gluoncv_version(), "mxnet": mx.__version__, "numpy": np.__version__,
            "python": platform.python_version(),
            "convention": "trainable = grad_req != 'null'; all = every parameter incl. BN "
                          "running mean/var (MXNet keeps them as parameters)"}


def counts(out_path, names=()):
    """Without ``names``: every zoo name, each in a fresh process, merged into ``out_path``."""
    if not names:
        rows = []
        for name in zoo_names():
            part = Path(f"{out_path}.{name}.part")
            subprocess.run([sys.executable, __file__, "counts", str(part), name], check=True)
            rows += json.loads(part.read_text())["counts"]
            part.unlink()
        cmd = f"python scripts/parity/gluoncv.py counts {out_path}"
        data = {"provenance": provenance(cmd), "counts": rows}
        Path(out_path).write_text(json.dumps(data, indent=1) + "\n")
        return
    rows = []
    for name in names:
        net, out = build(name, COUNT_CROP, forward=True)
        params = net._collect_params_with_prefix()
        trainable = sum(int(np.prod(p.shape)) for p in params.values() if p.grad_req != "null")
        total = sum(int(np.prod(p.shape)) for p in params.values())
        rows.append(dict(name=name, trainable=trainable, all=total, outputs=len(out)))
        print(json.dumps(rows[-1]), flush=True)
    cmd = "python scripts/parity/gluoncv.py counts " + " ".join([str(out_path), *names])
    Path(out_path).write_text(json.dumps({"provenance": provenance(cmd), "counts": rows},
                                         indent=1) + "\n")


def at_input_size(mx, out, crop):
    """ICNet returns its cascade outputs at 1/4, 1/8 and 1/16 of the crop; GluonCV's ICNetLoss
    resizes each to the crop (BilinearResize2D) before its loss, and our models return them so:
    the fixture stores them resized the same way."""
    if tuple(out.shape[2:]) == (crop, crop):
        return out
    return mx.nd.contrib.BilinearResize2D(out, height=crop, width=crop)


def fixture(out_dir, specs):
    """specs: {tag: {"name": zoo name, "crop": int, "step": int}}."""
    import mxnet as mx
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for tag, spec in specs.items():
        net, _ = build(spec["name"], spec["crop"], forward=True)   # forward: settle shapes
        rows = []
        for name, p in net._collect_params_with_prefix().items():
            arr = seeded_array(name, p.shape)
            p.set_data(mx.nd.array(arr, dtype=np.float32))
            rows.append([name, list(p.shape), float(arr.astype(np.float64).sum())])
        crop, step = spec["crop"], spec["step"]
        x = np.random.RandomState(0).standard_normal((1, 3, crop, crop)).astype(np.float32)
        y = net(mx.nd.array(x))                    # not under autograd.record: inference mode
        y = [at_input_size(mx, t, crop).asnumpy()
             for t in (y if isinstance(y, (tuple, list)) else (y,))]
        sampled = np.stack([t[:, :, ::step, ::step] for t in y])
        meta = dict(spec, gluoncv=gluoncv_version(), mxnet=mx.__version__)
        (out / f"{tag}.json").write_text(json.dumps(dict(spec=meta, params=rows), indent=0))
        np.save(out / f"{tag}_input.npy", x)
        np.save(out / f"{tag}_out.npy", sampled)
        print(tag, len(rows), "params; outputs", [t.shape for t in y], "stored", sampled.shape,
              "abs max %.3g std %.3g" % (max(np.abs(t).max() for t in y), np.std(y[0])))


def classifier(out_dir, tag, name, crop=224):
    import mxnet as mx
    from gluoncv.model_zoo import get_model
    net = get_model(name, pretrained=False)
    net.initialize()
    x = np.random.RandomState(0).standard_normal((1, 3, crop, crop)).astype(np.float32)
    net(mx.nd.array(x))                            # settles the deferred shapes
    rows = []
    for pname, p in net._collect_params_with_prefix().items():
        arr = seeded_array(pname, p.shape)
        p.set_data(mx.nd.array(arr, dtype=np.float32))
        rows.append([pname, list(p.shape), float(arr.astype(np.float64).sum())])
    y = net(mx.nd.array(x)).asnumpy()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the input is not stored (600 KB at 224): RandomState's stream is fixed (NEP 19)
    meta = dict(name=name, crop=crop, gluoncv=gluoncv_version(), mxnet=mx.__version__,
                input="RandomState(0).standard_normal((1, 3, crop, crop)) float32",
                input_sum=float(x.astype(np.float64).sum()),
                command=" ".join(["python scripts/parity/gluoncv.py", *sys.argv[1:]]))
    (out / f"{tag}.json").write_text(json.dumps(dict(spec=meta, params=rows), indent=0))
    np.save(out / f"{tag}_out.npy", y)
    print(tag, len(rows), "params; logits", y.shape, "abs max %.3g" % np.abs(y).max())


def parse_fixture(args):
    tag, name, *rest = args
    spec = {"name": name, "crop": 64, "step": 2}
    for item in rest:
        key, _, value = item.partition("=")
        if key not in spec:
            sys.exit(f"unknown fixture option {key!r}; known: crop, step")
        spec[key] = int(value)
    return {tag: spec}


def refresh_specs(out_dir):
    specs = {}
    for f in sorted(Path(out_dir).glob("*.json")):
        data = json.loads(f.read_text())
        if isinstance(data, dict) and "spec" in data:
            specs[f.stem] = {k: data["spec"][k] for k in ("name", "crop", "step")}
    return specs


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "counts" and len(sys.argv) >= 3:
        counts(sys.argv[2], sys.argv[3:])
    elif cmd == "fixture" and len(sys.argv) >= 5:
        fixture(sys.argv[2], parse_fixture(sys.argv[3:]))
    elif cmd == "classifier" and len(sys.argv) in (5, 6):
        classifier(sys.argv[2], sys.argv[3], sys.argv[4],
                   *[int(a.partition("=")[2]) for a in sys.argv[5:] if a.startswith("crop=")])
    elif cmd == "refresh" and len(sys.argv) == 3:
        fixture(sys.argv[2], refresh_specs(sys.argv[2]))
    else:
        sys.exit(__doc__)
