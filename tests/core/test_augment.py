"""DiffAugment: each policy does what it says and lets gradients through to the generator."""

import pytest
import torch

from deligan_core.augment import diff_augment


def test_translation_moves_content_without_changing_it():
    torch.manual_seed(0)
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    y = diff_augment(x, ["translation"])
    peaks = y.flatten(1).argmax(1)
    rows, cols = peaks // 16, peaks % 16
    assert (y.flatten(1).sum(1) == 1).all()  # the pixel stays inside (shift <= 2 of 16)
    assert ((rows - 8).abs() <= 2).all() and ((cols - 8).abs() <= 2).all()
    assert len(set(peaks.tolist())) > 5  # different shifts per sample


def test_cutout_zeroes_a_quarter_of_the_image():
    torch.manual_seed(0)
    y = diff_augment(torch.ones(32, 3, 16, 16), ["cutout"])
    zero_share = (y[:, 0] == 0).float().mean((1, 2))
    assert (zero_share > 0).all() and (zero_share <= 0.25 + 1e-6).all()
    assert (y[:, 0] == y[:, 1]).all()  # the same square on every channel


def test_color_changes_values_and_gradients_flow():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 8, 8, requires_grad=True)
    y = diff_augment(x, ["color", "translation", "cutout"])
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_non_image_input_is_refused():
    with pytest.raises(ValueError, match="N x C x H x W"):
        diff_augment(torch.zeros(4, 2), ["color"])
