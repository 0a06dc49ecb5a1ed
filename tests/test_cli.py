"""End to end through the command line: the demo trains to mIoU >= 0.7 on the CPU, eval.py
runs in all three modes on its checkpoint (both slow: subprocesses that train and evaluate), and
bad input gives one clear error, exit != 0 (in-process through ``python -m mxnetseg``'s main;
the process boundary itself -- exit codes, stderr without a traceback -- in the slow tests)."""
import json
import re

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cli, toy_subset

DEMO = REPO / "configs" / "demo.yaml"


@pytest.fixture(scope="session")
def demo_run(toy_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    proc = run_cli("-m", "mxnetseg", "train", "--config", str(DEMO), f"data_root={toy_root}",
                   f"ckpt_dir={work / 'weights'}", "--eval", cwd=work, timeout=900)
    return proc, work


@pytest.mark.slow
def test_demo_trains_to_miou_07(demo_run):
    proc, work = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = re.findall(r"toy val: pixAcc (\d\.\d+)\s+mIoU (\d\.\d+)", proc.stdout)
    assert final, proc.stdout[-2000:]
    pa, miou = map(float, final[-1])
    assert miou >= 0.7 and pa >= 0.85, proc.stdout[-2000:]
    assert list((work / "weights").rglob("*_best.pth"))


def _best(work):
    return next((work / "weights").rglob("*_best.pth"))


@pytest.mark.slow
def test_eval_three_modes(demo_run, toy_root, tmp_path):
    proc, work = demo_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = _best(work)
    # val: metrics; run as a plain script, like the original's eval.py
    out = run_cli(str(REPO / "mxnetseg" / "eval.py"), "--checkpoint", str(ckpt), "--data-root",
                  str(toy_root), "--mode", "val", "--json", str(tmp_path / "m.json"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["mIoU"] >= 0.7 and len(metrics["IoU"]) == 5
    assert "class  0 background ==> IoU" in out.stdout
    # multi-scale + flip (6 scales x 2 flips x sliding windows) on 4 of the val images
    small, _ = toy_subset(toy_root, tmp_path / "data", val=4)
    out = run_cli("-m", "mxnetseg", "eval", "--checkpoint", str(ckpt), "--data-root",
                  str(small), "--mode", "val", "--ms", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "scales [0.5, 0.75, 1.0, 1.25, 1.5, 1.75], flip True" in out.stdout
    # testval / test: colour PNGs of the val / test split
    for mode, split in (("testval", "val"), ("test", "test")):
        save = tmp_path / mode
        out = run_cli("-m", "mxnetseg", "eval", "--checkpoint", str(ckpt), "--data", "toy",
                      "--data-root", str(toy_root), "--mode", mode, "--save-dir", str(save),
                      cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        pngs = sorted(save.rglob("*.png"))
        listed = (toy_root / "toy" / f"{split}.txt").read_text().split("\n")
        assert len(pngs) == len([line for line in listed if line.strip()])
        img = Image.open(pngs[0])
        assert img.mode == "P" and set(np.unique(np.asarray(img))) <= set(range(5))


# ----------------------------------------------------------------------------- bad input
@pytest.fixture
def small_toy(toy_root, tmp_path):
    """A copy of the toy dataset whose train split is one batch (8 images)."""
    root, kept = toy_subset(toy_root, tmp_path / "data", train=8)
    return root, kept["train"]


def _main(capsys, *argv):
    """``python -m mxnetseg ARGV`` in this process: (exit code, stderr)."""
    from mxnetseg.__main__ import main
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().err


def _train(capsys, tmp_path, root, *over, workers=2):
    return _main(capsys, "train", "--config", str(DEMO), f"data_root={root}",
                 f"ckpt_dir={tmp_path / 'w'}", "epochs=1", "bs_train=8", f"workers={workers}",
                 "--no-val", *over)


def _assert_clean_error(result, *needles):
    code, stderr = result
    assert code != 0
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_corrupt_image(small_toy, tmp_path, capsys):
    root, pairs = small_toy
    bad = root / "toy" / pairs[3][0]
    bad.write_bytes(bad.read_bytes()[:60])           # truncated PNG, read in a worker process
    _assert_clean_error(_train(capsys, tmp_path, root, "preflight=false"), bad.name)
    # the pre-flight pass finds it before training starts, naming the file
    code, stderr = _train(capsys, tmp_path, root)
    assert code == 2 and "pre-flight" in stderr and bad.name in stderr
    assert "Traceback" not in stderr


def test_out_of_range_label(small_toy, tmp_path, capsys):
    root, pairs = small_toy
    bad = root / "toy" / pairs[5][1]
    label = np.asarray(Image.open(bad)).copy()
    label[:4, :4] = 77
    Image.fromarray(label).save(bad)
    _assert_clean_error(_train(capsys, tmp_path, root, workers=0), bad.name, "77")


def test_missing_split_list(small_toy, tmp_path, capsys):
    root, _ = small_toy
    _assert_clean_error(_train(capsys, tmp_path, root, "train_split=nosuch"), "nosuch.txt")


def test_unknown_config_key(small_toy, tmp_path, capsys):
    root, _ = small_toy
    _assert_clean_error(_train(capsys, tmp_path, root, "lrr=0.1"), "'lrr'", "Did you mean 'lr'")


def test_unknown_model(small_toy, tmp_path, capsys):
    root, _ = small_toy
    _assert_clean_error(_train(capsys, tmp_path, root, "model_name=FCNResnt"), "FCNResNet")


def test_eval_missing_checkpoint(tmp_path, capsys):
    _assert_clean_error(_main(capsys, "eval", "--checkpoint", str(tmp_path / "none.pth")),
                        "none.pth")


def test_unknown_command(capsys):
    assert _main(capsys, "--help")[0] == 0
    code, stderr = _main(capsys, "trian")
    assert code == 2 and "unknown command 'trian'" in stderr


@pytest.mark.slow
def test_python_m_exit_codes_and_clean_stderr(small_toy, tmp_path):
    """The real process boundary: ``python -m mxnetseg`` exits 0 / 2 and a user error reaches
    stderr as one line without a traceback."""
    assert run_cli("-m", "mxnetseg", "--help", cwd=tmp_path).returncode == 0
    proc = run_cli("-m", "mxnetseg", "trian", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown command" in proc.stderr
    root, _ = small_toy
    proc = run_cli("-m", "mxnetseg", "train", "--config", str(DEMO), f"data_root={root}",
                   f"ckpt_dir={tmp_path / 'w'}", "lrr=0.1", cwd=tmp_path)
    assert proc.returncode == 2
    _assert_clean_error((proc.returncode, proc.stderr), "'lrr'", "Did you mean 'lr'")
