"""SETR specifics: decoders and their outputs, block indices per ViT size, the crop-sized
zero position embedding and how other input sizes use it, the ViT block's dropout positions,
and loading trunk weights."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

from mxnetseg.models import create_model, get_model_builder
from mxnetseg.models.setr import SETR
from mxnetseg.models.vit import VisionTransformer


def _mini(decoder="pup", aux=True, crop=32, nclass=3):
    torch.manual_seed(0)
    return create_model("setr", nclass, backbone="vit_mini_16", aux=aux, crop_size=crop,
                        decoder=decoder).eval()


def test_alias_and_errors():
    assert get_model_builder("setr") is SETR
    with torch.device("meta"):
        with pytest.raises(ValueError, match="decoder must be one of naive, pup, mla"):
            create_model("setr", 19, decoder="fpn")
        with pytest.raises(ValueError, match="unknown ViT backbone 'resnet50'"):
            create_model("setr", 19, backbone="resnet50")
        with pytest.raises(ValueError, match="SETR always runs at output stride 16"):
            create_model("setr", 19, output_stride=8)


@pytest.mark.parametrize("backbone,decoder,indices", [
    ("vit_large_16", "pup", (10, 15, 20, 24)), ("vit_large_16", "naive", (10, 15, 20, 24)),
    ("vit_large_16", "mla", (6, 12, 18, 24)), ("vit_mini_16", "mla", (6, 12, 18, 24)),
    ("vit_base_16", "pup", (5, 8, 10, 12)), ("vit_base_16", "mla", (3, 6, 9, 12)),
    ("vit_huge_16", "pup", (13, 20, 27, 32)), ("vit_huge_16", "mla", (8, 16, 24, 32))])
def test_block_indices(backbone, decoder, indices):
    with torch.device("meta"):
        model = create_model("setr", 19, backbone=backbone, decoder=decoder)
    assert model.backbone.out_indices == indices
    assert len(model.backbone.norms) == 4 and model.backbone.norms[0].eps == 1e-6


def test_position_embedding_follows_crop():
    with torch.device("meta"):
        model = create_model("setr", 19, crop_size=768)
    assert model.backbone.pos_embed.shape == (1, 48 * 48, 1024)
    trunk = VisionTransformer("vit_mini_16", img_size=64)
    assert torch.equal(trunk.pos_embed, torch.zeros(1, 16, 64))       # zero-init
    with torch.no_grad():   # a ramp along x: bilinear resizing keeps it monotone per row
        trunk.pos_embed.copy_(torch.arange(4.).repeat(4)[None, :, None].expand(1, 16, 64))
    assert trunk.position_embedding(4, 4) is trunk.pos_embed           # input == crop
    grid = trunk.position_embedding(3, 6).reshape(3, 6, 64)
    assert torch.equal(grid[0], grid[2]) and (grid[0, 1:, 0] >= grid[0, :-1, 0]).all()
    assert grid[0, 0, 0] == 0 and grid[0, -1, 0] == 3


@pytest.mark.parametrize("decoder,n_out,main_size", [("pup", 5, 16), ("naive", 4, 2),
                                                     ("mla", 5, 2)])
def test_decoders(decoder, n_out, main_size):
    model = _mini(decoder)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        feats = model.backbone(x)[::-1]
        assert [f.shape for f in feats] == [(1, 64, 2, 2)] * 4
        raw = model.head(feats)
        out = model(x)
    assert raw[0].shape[-1] == main_size                  # PUP: stride 2, else 16
    assert all(r.shape[-1] == 2 for r in raw[1:])
    assert len(out) == n_out and all(o.shape == (1, 3, 32, 32) for o in out)
    if decoder == "pup":
        assert (out[0] >= 0).all()                        # logits pass BN + ReLU (original)
    assert len(_mini(decoder, aux=False)(x)) == 1


def test_any_input_size_pads_to_the_patch_grid():
    model = _mini("pup")
    x = torch.randn(1, 3, 24, 40)
    padded = F.pad(x, (0, 8, 0, 8))                       # 32 x 48: 2 x 3 tokens
    with torch.no_grad():
        out, ref = model(x), model(padded)
    assert all(o.shape == (1, 3, 24, 40) for o in out)
    for o, r in zip(out, ref, strict=True):
        torch.testing.assert_close(o, r[..., :24, :40])


def test_block_dropout_positions_and_attention():
    trunk = VisionTransformer("vit_mini_16", img_size=32, out_indices=(24,))
    block = trunk.blocks[0]
    drops = {n: m.p for n, m in block.named_modules() if isinstance(m, nn.Dropout) and m.p}
    assert drops == {"attn.proj_drop": 0.1, "mlp.drop1": 0.1, "mlp.drop2": 0.1}
    assert block.norm1.eps == 1e-6 and block.attn.qkv.bias is not None
    block.eval()
    x = torch.randn(2, 5, 64)
    h = block.norm1(x)
    q, k, v = block.attn.qkv(h).reshape(2, 5, 3, 4, 16).permute(2, 0, 3, 1, 4)
    att = torch.softmax(q @ k.transpose(-1, -2) / 16 ** 0.5, dim=-1)
    x1 = x + block.attn.proj((att @ v).transpose(1, 2).reshape(2, 5, 64))
    mlp = block.mlp
    ref = x1 + mlp.fc2(F.gelu(mlp.fc1(block.norm2(x1))))
    with torch.no_grad():
        torch.testing.assert_close(block(x), ref)


def test_pretrained_trunk_from_a_state_dict(tmp_path):
    src = VisionTransformer("vit_mini_16", img_size=32)
    state = {k: v for k, v in src.state_dict().items() if k.startswith(("patch_embed", "blocks"))}
    torch.save(state, tmp_path / "vit.pth")
    model = create_model("setr", 3, backbone="vit_mini_16", crop_size=32,
                         pretrained_base=str(tmp_path / "vit.pth"))
    got = model.backbone.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())
    assert torch.equal(got["pos_embed"], torch.zeros(1, 4, 64))     # not loaded, stays zero
    save_file(state, str(tmp_path / "vit.safetensors"))
    trunk = VisionTransformer("vit_mini_16", pretrained=str(tmp_path / "vit.safetensors"))
    assert torch.equal(trunk.blocks[23].mlp.fc2.weight, state["blocks.23.mlp.fc2.weight"])
    torch.save({"head.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(RuntimeError, match="not a ViT state dict"):
        create_model("setr", 3, backbone="vit_mini_16", pretrained_base=str(tmp_path / "bad.pth"))
    with pytest.raises(ValueError, match="no ImageNet weights exist for 'vit_mini_16'"):
        create_model("setr", 3, backbone="vit_mini_16", pretrained_base=True)
