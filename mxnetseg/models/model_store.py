"""GluonCV's published segmentation weights: where they live, their sha1, a local cache.

The table holds the facts of GluonCV 0.10.5's model store (``gluoncv/model_zoo/model_store.py``)
for its segmentation names: the file ``{name}-{sha1[:8]}.params`` is published zipped at
``{repo}gluon/models/{name}-{sha1[:8]}.zip``. Files are cached as ``{name}-{sha1[:8]}.params``
in ``$MXNETSEG_HOME`` (default ``~/.cache/mxnetseg``); ``$MXNETSEG_REPO`` (or GluonCV's own
``$MXNET_GLUON_REPO``) points the download at a mirror. This module imports nothing from the
rest of the package so that any layer may use it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..registry import did_you_mean

__all__ = ["MODEL_SHA1", "DEFAULT_REPO_URL", "ModelStoreError", "cache_dir", "repo_url",
           "file_name", "model_url", "cached_file", "get_model_file", "download_model",
           "sha1_of"]

DEFAULT_REPO_URL = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/"

# name -> sha1 of the unzipped .params, as GluonCV 0.10.5 records them. fcn_resnet50_voc is a
# GluonCV zoo architecture without published weights (GluonCV's own pretrained=True fails too).
MODEL_SHA1 = {
    "fcn_resnet101_coco": "766cdf9cc3e5b980b141643f054db5b48863f634",
    "fcn_resnet101_voc": "12c2b9b3be7d4e133e52477150a9b3e616626a82",
    "fcn_resnet50_ade": "3479525af7bdbf345e74e150aaae2e48174c0c5f",
    "fcn_resnet101_ade": "d544440a35586f662ed1a5405ab9aa89cd750558",
    "deeplab_resnet101_coco": "ed817f76086abb4c3404af62ec1b5487c67642b7",
    "deeplab_resnet101_voc": "311ed22c63f3ac28b5f1e1663c458f26600e62da",
    "deeplab_resnet152_coco": "83247aaeeded6988790cd93ac93151514094846f",
    "deeplab_resnet152_voc": "d35bea8817935d1ab310ef1e6dd06bb18c2d5f0d",
    "deeplab_resnet50_ade": "c7789b237adc7253405bee57c84d53b15db45942",
    "deeplab_resnet101_ade": "bf1584dfcec12063eff3075ee643e181c0f6d443",
    "deeplab_resnest50_ade": "a8312db6e30a464151580f2bda83479786455724",
    "deeplab_resnest101_ade": "6d05c630fb7acb38615f7f4d360fb90f47b25042",
    "deeplab_resnest200_ade": "9134a6f7d1399b549d5803d8faed3dfc74efc0d8",
    "deeplab_resnest269_ade": "d45b33dedf4cca13b8147213c5360e30f93685bd",
    "psp_resnet101_coco": "09f89cad0e107cb2bffdb1b07706ba31798096f2",
    "psp_resnet101_voc": "2c2f4e1c2b11461b52598a4b2038bccbcfc166eb",
    "psp_resnet50_ade": "3f220f537400dfa607c3d041ed3b172db39b0b01",
    "psp_resnet101_ade": "240a4758b506447faf7c55cd7a7837d66f5039a6",
    "psp_resnet101_citys": "d0e8603120ab02118a8973d52a26b8296d1b4078",
    "deeplab_v3b_plus_wideresnet_citys": "ef2bb40ad8f8f59f451969b2fabe4e548394e80a",
    "icnet_resnet50_citys": "909742b45d5a3844d6000248aa92fef0ae23a0f0",
    "icnet_resnet50_mhpv1": "873d381a4bc246c5b9d3660ccf66c2f63d0b4e7c",
    "deeplab_resnet50_citys": "cf6a7bb3d55360933de647a8505f7936003902a4",
    "deeplab_resnet101_citys": "eb8477a91efc244c85b364c0736664078aaf0e65",
    "fastscnn_citys": "95aad0b699ae17c67caa44b3ead4b23474e98954",
    "danet_resnet50_citys": "143e1f1c1c1f2d3a3416887e088ebfdd4e1e2345",
    "danet_resnet101_citys": "6ead3d099f7a320846bddb51148c3fe3b5ade5c2",
}
_NO_WEIGHTS = {"fcn_resnet50_voc"}

_TIMEOUT_S = 30


class ModelStoreError(RuntimeError):
    """A model-store name is unknown, a download failed or a file does not match its sha1."""


def cache_dir(root=None) -> Path:
    return Path(root or os.environ.get("MXNETSEG_HOME") or "~/.cache/mxnetseg").expanduser()


def repo_url() -> str:
    url = os.environ.get("MXNETSEG_REPO") or os.environ.get("MXNET_GLUON_REPO") or DEFAULT_REPO_URL
    return url if url.endswith("/") else url + "/"


def _sha1(name: str) -> str:
    key = str(name).lower()
    if key in MODEL_SHA1:
        return MODEL_SHA1[key]
    if key in _NO_WEIGHTS:
        raise ModelStoreError(f"GluonCV published no trained weights for {name!r}; train it or "
                              f"pick one of: {', '.join(MODEL_SHA1)}")
    raise ModelStoreError(f"no pretrained weights named {name!r}.{did_you_mean(key, MODEL_SHA1)} "
                          f"Available: {', '.join(MODEL_SHA1)}.")


def file_name(name: str) -> str:
    """``{name}-{first 8 hex digits of its sha1}.params``, GluonCV's file name."""
    return f"{str(name).lower()}-{_sha1(name)[:8]}.params"


def model_url(name: str) -> str:
    return f"{repo_url()}gluon/models/{file_name(name)[:-len('.params')]}.zip"


def sha1_of(path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_file(name: str, root=None) -> Path | None:
    """The cached file of ``name`` when it is there and its sha1 matches, else None."""
    path = cache_dir(root) / file_name(name)
    return path if path.is_file() and sha1_of(path) == _sha1(name) else None


def get_model_file(name: str, root=None, download: bool = True, progress: bool = True) -> Path:
    """Path of the verified weights of ``name``, downloading them first if needed."""
    path = cached_file(name, root)
    if path is not None:
        return path
    if not download:
        raise ModelStoreError(f"{name!r} is not in the cache {cache_dir(root)}: run "
                              f"python -m mxnetseg download {name}")
    return download_model(name, root, progress=progress)


def _fetch(url: str, dest, progress: bool):
    try:
        response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as err:
        raise ConnectionError(f"cannot fetch {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise ConnectionError(f"cannot reach {url}: {getattr(err, 'reason', err)}") from None
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="B", unit_scale=True, desc="download", leave=False)
        try:
            for block in iter(lambda: response.read(1 << 20), b""):
                dest.write(block)
                if bar is not None:
                    bar.update(len(block))
        except OSError as err:
            raise ConnectionError(f"download of {url} broke off: {err}") from None
        finally:
            if bar is not None:
                bar.close()


def download_model(name: str, root=None, progress: bool = True) -> Path:
    """Fetch ``name``'s zip, unpack its ``.params``, check the sha1, then move it into the
    cache in one rename: on any failure nothing is left in the cache."""
    sha1, target = _sha1(name), cache_dir(root) / file_name(name)
    url = model_url(name)
    if cached_file(name, root) is not None:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ModelStoreError(f"cannot create the cache folder {target.parent}: {err}; set "
                              f"MXNETSEG_HOME or --dir to a writable folder") from None
    with tempfile.TemporaryDirectory(prefix=".download-", dir=target.parent) as tmp:
        archive = Path(tmp) / "weights.zip"
        try:
            with open(archive, "wb") as f:
                _fetch(url, f, progress)
        except ConnectionError as err:
            raise ModelStoreError(
                f"{err}. Offline? Fetch {url} by hand, unzip it and put {target.name} into "
                f"{target.parent} (or set MXNETSEG_REPO to a mirror)") from None
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.namelist() if m.endswith(".params")]
                if len(members) != 1:
                    raise ModelStoreError(f"{url}: expected one .params file in the zip, found "
                                          f"{members or zf.namelist()}")
                unpacked = Path(tmp) / "weights.params"
                with zf.open(members[0]) as src, open(unpacked, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        except zipfile.BadZipFile:
            raise ModelStoreError(f"{url} is not a zip archive (a broken download or a wrong "
                                  f"mirror?); nothing was written to {target.parent}") from None
        got = sha1_of(unpacked)
        if got != sha1:
            raise ModelStoreError(f"{url}: sha1 {got} does not match the published {sha1}; "
                                  f"nothing was written to {target.parent}. Try again, or check "
                                  f"the mirror")
        os.replace(unpacked, target)
    return target
