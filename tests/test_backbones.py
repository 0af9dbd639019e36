"""The built-in backbones: shapes, the papers' layouts, and how a backbone is chosen."""

import copy

import pytest
import torch

from hypersphere_sklearn import backbones


@pytest.mark.parametrize(
    "name, shape",
    [("mlp", (10,)), ("small-cnn", (1, 64, 64)), ("small-cnn", (3, 32, 32)),
     ("sphere4", (3, 112, 96)), ("sphere10", (1, 112, 96)), ("sphere20", (3, 112, 96)),
     ("resnet", (3, 112, 112))],
)
def test_built_in_backbones_give_embeddings_of_the_asked_width(name, shape):
    net = backbones.build_backbone(name, shape, 64)
    assert backbones.infer_embedding_dim(net, shape) == 64


def test_sphereface_depths_count_their_layers():
    """SphereFace's Table 2 names its networks by their number of convolution layers."""
    for depth in (4, 10, 20):
        net = backbones.SphereNet(3, 512, depth=depth, image_size=(112, 96))
        convs = sum(isinstance(m, torch.nn.Conv2d) for m in net.modules())
        assert convs == depth
        assert net.embedding.in_features == 512 * 7 * 6  # the paper's 7x6 map at 112x96


def test_auto_choice():
    assert backbones.default_backbone((20,)) == "mlp"
    assert backbones.default_backbone((1, 64, 64)) == "small-cnn"
    assert backbones.default_backbone((3, 112, 112)) == "resnet"


def test_input_scaler_maps_pixels_to_minus_one_one():
    scaler = backbones.InputScaler(127.5, 1 / 127.5)
    out = scaler(torch.tensor([0, 255], dtype=torch.uint8))
    torch.testing.assert_close(out, torch.tensor([-1.0, 1.0]))
    assert out.dtype == torch.float32


def test_bad_depth_and_bad_module_output():
    with pytest.raises(ValueError, match="depth"):
        backbones.SphereNet(1, 8, depth=7)
    conv = torch.nn.Conv2d(1, 4, 3)
    with pytest.raises(ValueError, match="shape \\(batch, embedding_dim\\)"):
        backbones.infer_embedding_dim(conv, (1, 8, 8))


@pytest.mark.parametrize("channels", [1, 3])
def test_small_cnn_keeps_channels_last_kernels_with_the_same_outputs(channels):
    torch.manual_seed(0)
    net = backbones.SmallCNN(channels, 16).eval()
    convolutions = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions)
    x = torch.randn(5, channels, 20, 17)
    nchw = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    assert not convolutions[1].is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(net(x), nchw(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, shape", [("small-cnn", (1, 32, 32)), ("resnet", (1, 32, 32))])
def test_the_embedding_batch_norm_can_be_left_out(name, shape):
    """``embedding_bn=False`` drops only the final BatchNorm1d, so the feature norms are
    free: with it every feature has mean 0 and variance 1 over the batch in training mode."""
    torch.manual_seed(0)
    x = torch.randn(8, *shape)
    with_bn = backbones.build_backbone(name, shape, 16)
    without = backbones.build_backbone(name, shape, 16, embedding_bn=False)
    assert isinstance(with_bn.embedding[-1], torch.nn.BatchNorm1d)
    assert [type(m) for m in without.embedding] == [torch.nn.Linear]
    out = with_bn(x)
    torch.testing.assert_close(out.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(0, unbiased=False), torch.ones(16), atol=1e-3, rtol=0)
    assert without(x).var(0, unbiased=False).mean() < 0.5  # the raw linear layer's scale


def test_an_unknown_backbone_argument_names_the_arguments_there_are():
    with pytest.raises(ValueError, match=r"backbone='mlp' has no argument 'embedding_bn' "
                                         r"\(given as backbone__embedding_bn\); its arguments "
                                         r"are \['hidden'\]"):
        backbones.build_backbone("mlp", (10,), 8, embedding_bn=False)
    with pytest.raises(ValueError, match=r"its arguments are \['embedding_bn', 'widths'\]"):
        backbones.build_backbone("small-cnn", (1, 32, 32), 8, width=4)
