"""The GluonCV model store: URL rule, download + sha1 check + atomic cache, offline errors.
Downloads go to a local HTTP server on 127.0.0.1 (no internet at test time)."""
import functools
import hashlib
import http.server
import io
import threading
import zipfile

import pytest
import torch

from mxnetseg.download import main as download_main
from mxnetseg.models import create_model
from mxnetseg.models import model_store as ms


def _zip_bytes(member, payload):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, payload)
    return buf.getvalue()


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/www at http://127.0.0.1:PORT/; yields (www dir, base url, stop())."""
    www = tmp_path / "www"
    (www / "gluon" / "models").mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            httpd.shutdown()
            httpd.server_close()
            stopped.append(True)
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}", stop
    stop()


@pytest.fixture
def store(monkeypatch, tmp_path, server):
    """A fake zoo entry whose published file is served by the local server."""
    www, url, stop = server
    payload = b"fake weights " * 1000
    sha1 = hashlib.sha1(payload).hexdigest()
    monkeypatch.setitem(ms.MODEL_SHA1, "tiny_net_voc", sha1)
    monkeypatch.setenv("MXNETSEG_REPO", url)
    monkeypatch.setenv("MXNETSEG_HOME", str(tmp_path / "cache"))
    stem = f"tiny_net_voc-{sha1[:8]}"
    (www / "gluon" / "models" / f"{stem}.zip").write_bytes(_zip_bytes(f"{stem}.params", payload))
    return {"payload": payload, "sha1": sha1, "stem": stem, "www": www, "stop": stop,
            "cache": tmp_path / "cache"}


def test_url_rule_is_gluoncvs(monkeypatch):
    monkeypatch.delenv("MXNETSEG_REPO", raising=False)
    monkeypatch.delenv("MXNET_GLUON_REPO", raising=False)
    assert ms.model_url("psp_resnet101_citys") == (
        "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/models/"
        "psp_resnet101_citys-d0e86031.zip")
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://mirror/x")
    assert ms.model_url("fastscnn_citys") == \
        "http://mirror/x/gluon/models/fastscnn_citys-95aad0b6.zip"


def test_every_sha1_is_40_hex_digits():
    assert len(ms.MODEL_SHA1) == 27
    for name, sha1 in ms.MODEL_SHA1.items():
        assert len(sha1) == 40 and int(sha1, 16) >= 0, name


def test_store_covers_the_zoo():
    """Every GluonCV zoo name has a sha1, except the one GluonCV published no weights for."""
    from mxnetseg.models.gluoncv_zoo import ZOO
    assert set(ms.MODEL_SHA1) == set(ZOO) - {"fcn_resnet50_voc"}


def test_unknown_and_unpublished_names():
    with pytest.raises(ms.ModelStoreError, match="Did you mean 'psp_resnet101_citys'"):
        ms.model_url("psp_resnet101_city")
    with pytest.raises(ms.ModelStoreError, match="published no trained weights"):
        ms.model_url("fcn_resnet50_voc")


def test_download_good_file(store, capsys):
    assert download_main(["tiny_net_voc", "--quiet"]) == 0
    path = store["cache"] / f"{store['stem']}.params"
    assert capsys.readouterr().out.strip() == str(path)
    assert path.read_bytes() == store["payload"]
    assert sorted(p.name for p in store["cache"].iterdir()) == [path.name]   # no temp left
    # cached with the right sha1: served from the cache, even with the server gone
    store["stop"]()
    assert ms.get_model_file("tiny_net_voc") == path


def test_download_to_dir(store, tmp_path):
    path = ms.get_model_file("tiny_net_voc", tmp_path / "elsewhere", progress=False)
    assert path.parent == tmp_path / "elsewhere" and path.read_bytes() == store["payload"]


def test_wrong_sha1_leaves_nothing(store, monkeypatch, capsys):
    zip_path = store["www"] / "gluon" / "models" / f"{store['stem']}.zip"
    zip_path.write_bytes(_zip_bytes(f"{store['stem']}.params", b"tampered"))
    assert download_main(["tiny_net_voc", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not match the published" in err and store["sha1"] in err
    assert not store["cache"].exists() or list(store["cache"].iterdir()) == []


def test_corrupt_cached_file_is_fetched_again(store):
    store["cache"].mkdir()
    bad = store["cache"] / f"{store['stem']}.params"
    bad.write_bytes(b"truncated")
    assert ms.get_model_file("tiny_net_voc", progress=False).read_bytes() == store["payload"]


def test_server_gone_says_what_to_do(store, capsys):
    store["stop"]()
    assert download_main(["tiny_net_voc", "--quiet"]) == 2
    err = capsys.readouterr().err
    url = ms.model_url("tiny_net_voc")
    assert "cannot reach" in err and url in err
    assert f"{store['stem']}.params" in err and str(store["cache"]) in err
    assert not store["cache"].exists() or list(store["cache"].iterdir()) == []


def test_missing_file_on_server(store, capsys):
    (store["www"] / "gluon" / "models" / f"{store['stem']}.zip").unlink()
    assert download_main(["tiny_net_voc", "--quiet"]) == 2
    assert "HTTP 404" in capsys.readouterr().err


def test_create_model_pretrained_uses_the_cache(monkeypatch, tmp_path, server):
    """pretrained=True loads the store's file for the name (served here as our .pth)."""
    www, url, _ = server
    net = create_model("FCNResNet", 3, backbone="resnet18", pretrained_base=False)
    buf = io.BytesIO()
    torch.save({"model": net.state_dict()}, buf)
    payload = buf.getvalue()
    sha1 = hashlib.sha1(payload).hexdigest()
    monkeypatch.setitem(ms.MODEL_SHA1, "fcnresnet", sha1)
    monkeypatch.setenv("MXNETSEG_REPO", url)
    monkeypatch.setenv("MXNETSEG_HOME", str(tmp_path / "cache"))
    stem = f"fcnresnet-{sha1[:8]}"
    (www / "gluon" / "models" / f"{stem}.zip").write_bytes(_zip_bytes(f"{stem}.params", payload))
    loaded = create_model("FCNResNet", 3, backbone="resnet18", pretrained_base=False,
                          pretrained=True)
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    assert (tmp_path / "cache" / f"{stem}.params").is_file()
