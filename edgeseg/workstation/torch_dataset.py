"""PyTorch view of a SegmentationDataset for training on the workstation (imports torch)."""
from typing import Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.datasets import SegmentationDataset
from ..data.transforms import Transform
from ..preprocess import PreprocessSpec


class TorchSegmentation(Dataset):
    """(float32 3xHxW image, int64 HxW label) samples for a DataLoader.

    The image is normalised as `edgeseg.preprocess.preprocess_reference` does it (channel order,
    scale, mean, std) but not resized: `transform` sets the size, `spec.size` is not used. Each
    sample's transform rng is seeded from (seed, epoch, index), so augmentation is the same
    whatever the number of workers; call `set_epoch` before iterating each epoch (with
    persistent_workers=True the workers would keep the old epoch).
    """

    def __init__(self, dataset: SegmentationDataset, transform: Optional[Transform], spec: PreprocessSpec,
                 seed: int = 0) -> None:
        self.dataset, self.transform = dataset, transform
        self.seed, self.epoch = seed, 0
        self._rgb = spec.color_order == "rgb"
        self._scale = spec.scale
        self._mean = np.array(spec.mean, np.float32)
        self._std = np.array(spec.std, np.float32)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        image, label = self.dataset[i]
        if self.transform is not None:
            image, label = self.transform(image, label, np.random.default_rng([self.seed, self.epoch, i]))
        x = image.astype(np.float32)
        if self._rgb:
            x = x[:, :, ::-1]
        x = (x * self._scale - self._mean) / self._std
        return (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
                torch.from_numpy(label.astype(np.int64)))
