"""The torch training view: normalisation as the deployed preprocessing, reproducible augmentation."""
import numpy as np
import pytest
import torch

from edgeseg.data.datasets import SyntheticScenes
from edgeseg.data.transforms import train_transforms
from edgeseg.preprocess import PreprocessSpec, preprocess_reference
from edgeseg.workstation.torch_dataset import TorchSegmentation

DATA = SyntheticScenes(4, 64, 48, seed=3)


@pytest.mark.parametrize("spec", [PreprocessSpec((64, 48)),
                                  PreprocessSpec((64, 48), mean=(0, 0, 0), std=(1, 1, 1), color_order="bgr"),
                                  PreprocessSpec((64, 48), mean=(100, 110, 120), std=(50, 60, 70), scale=1.0)])
def test_normalisation_equals_preprocess_reference(spec):
    image, label = TorchSegmentation(DATA, None, spec)[1]
    expected = preprocess_reference(DATA[1][0], spec)[0]
    assert image.dtype == torch.float32 and image.shape == (3, 48, 64)
    assert np.array_equal(image.numpy(), expected)
    assert label.dtype == torch.int64 and np.array_equal(label.numpy(), DATA[1][1])


def batches(dataset, workers):
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=workers)
    return [tensor for batch in loader for tensor in batch]


def test_augmentation_reproducible_across_workers_and_epochs():
    def make():
        return TorchSegmentation(DATA, train_transforms(40, 32), PreprocessSpec((40, 32)), seed=7)

    first, second = make(), make()
    epoch0 = batches(first, 0)
    assert all(torch.equal(a, b) for a, b in zip(epoch0, batches(second, 2)))
    first.set_epoch(1)
    epoch1 = batches(first, 0)
    assert epoch1[0].shape == (2, 3, 32, 40) and epoch1[1].shape == (2, 32, 40)
    assert not all(torch.equal(a, b) for a, b in zip(epoch0, epoch1))
    second.set_epoch(1)
    assert all(torch.equal(a, b) for a, b in zip(epoch1, batches(second, 2)))
