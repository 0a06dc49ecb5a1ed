"""Make the MXNet FCNResNet parity fixtures from the ORIGINAL MXNetSeg code.

Run under a throwaway MXNet environment (scripts/parity/requirements.txt), never the project's:

    git -C /path/to/BebDong+MXNetSeg archive HEAD -- mxnetseg | tar -x -C /tmp/mxorig
    /tmp/mxvenv/bin/python scripts/parity/make_fcn_fixture.py /tmp/mxorig tests/fixtures/mxnet

Every weight is drawn from a generator seeded by crc32 of its parameter name (``seeded_array``
of original.py; tests/parity.py has the same function), so no weights file needs to be stored.
The other models' fixtures come from ``original.py fixture``.
Writes, in the output folder:
  fcn_resnet18_aux_names.json  [[name, shape, sum], ...] of FCNResNet(5, resnet18, aux, dilate)
  fcn_resnet50_aux_names.json  [[name, shape], ...] of the resnet50 (v1s) variant (names only)
  fcn_input.npy                1x3x64x64 input
  fcn_resnet18_aux_out.npy     2x1x5x64x64: the original's eval-mode (main, aux) outputs
  small.params                 a real mx.nd.save file: the seeded FCN head's BN + last conv,
                               one array per dtype, arg:/aux: prefixed names
"""
import json
import sys
from pathlib import Path

import numpy as np

from original import seeded_array   # same directory: the one weight generator

SIZE = 64      # input size == crop size, so the original's output size equals ours


def build(FCNResNet, backbone, mx):
    net = FCNResNet(5, backbone=backbone, aux=True, crop_size=SIZE, pretrained_base=False,
                    dilate=True)
    net.initialize()
    net(mx.nd.zeros((1, 3, SIZE, SIZE)))      # materialise deferred shapes
    return net


def main(orig_root, out_dir):
    sys.path.insert(0, str(Path(orig_root).resolve()))
    import mxnet as mx
    from mxnetseg.models.fcn import FCNResNet
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    net = build(FCNResNet, "resnet18", mx)
    params = net._collect_params_with_prefix()     # the names save_parameters writes
    rows = []
    for name, p in params.items():
        arr = seeded_array(name, p.shape)
        p.set_data(mx.nd.array(arr, dtype=np.float32))
        rows.append([name, list(p.shape), float(arr.astype(np.float64).sum())])
    (out / "fcn_resnet18_aux_names.json").write_text(json.dumps(rows, indent=0))
    # cross-check: the names in a real save_parameters file are these, in this order
    net.save_parameters("/tmp/_fcn_r18_check.params")
    assert list(mx.nd.load("/tmp/_fcn_r18_check.params")) == [r[0] for r in rows]

    x = np.random.RandomState(0).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    np.save(out / "fcn_input.npy", x)
    main_out, aux_out = net(mx.nd.array(x))        # not under autograd.record: inference mode
    y = np.stack([main_out.asnumpy(), aux_out.asnumpy()])
    np.save(out / "fcn_resnet18_aux_out.npy", y)
    print("outputs", y.shape, "abs max", float(np.abs(y).max()), "std", float(y.std()))

    r50 = build(FCNResNet, "resnet50", mx)
    (out / "fcn_resnet50_aux_names.json").write_text(json.dumps(
        [[n, list(p.shape)] for n, p in r50._collect_params_with_prefix().items()], indent=0))

    small = {n: mx.nd.array(seeded_array(n, params[n].shape)) for n in params
             if n.startswith(("head.conv2.", "head.conv1.bn."))}  # small ones
    rs = np.random.RandomState(1)
    for dt in ("float32", "float64", "float16", "uint8", "int32", "int8", "int64"):
        small[f"arg:dtype_{dt}"] = mx.nd.array((rs.uniform(0, 100, (2, 3))).astype(dt), dtype=dt)
    small["aux:vector"] = mx.nd.array(np.arange(7, dtype=np.float32))
    mx.nd.save(str(out / "small.params"), small)
    back = mx.nd.load(str(out / "small.params"))
    print("small.params:", {k: (v.shape, str(v.dtype)) for k, v in back.items()
                            if not k.startswith("head.")})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
