import cv2
import numpy as np
import pytest

from edgeseg.errors import ConfigError
from edgeseg.preprocess import Preprocessor, PreprocessSpec, parse_size, preprocess_reference


@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_fast_path_matches_the_numpy_definition(order):
    frame = np.random.RandomState(0).randint(0, 256, size=(360, 640, 3)).astype(np.uint8)
    spec = PreprocessSpec((256, 128), mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), color_order=order)
    blob = Preprocessor(spec)(frame)
    assert blob.shape == (1, 3, 128, 256) and blob.dtype == np.float32
    np.testing.assert_allclose(blob, preprocess_reference(frame, spec), atol=1e-5)


def test_channel_order_is_honoured():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 2] = 255  # red in BGR
    rgb = Preprocessor(PreprocessSpec((8, 8), mean=(0, 0, 0), std=(1, 1, 1)))(frame)
    bgr = Preprocessor(PreprocessSpec((8, 8), mean=(0, 0, 0), std=(1, 1, 1), color_order="bgr"))(frame)
    assert rgb[0, 0].min() == 1.0 and rgb[0, 2].max() == 0.0
    assert bgr[0, 2].min() == 1.0 and bgr[0, 0].max() == 0.0


def test_blobfromimage_fallback_matches(monkeypatch):
    frame = np.random.RandomState(1).randint(0, 256, size=(100, 150, 3)).astype(np.uint8)
    spec = PreprocessSpec((64, 32))
    fast = Preprocessor(spec)(frame)
    monkeypatch.delattr(cv2.dnn, "blobFromImageWithParams")
    fallback = Preprocessor(spec)(frame)
    np.testing.assert_allclose(fast, fallback, atol=1e-5)


def test_spec_round_trip():
    spec = PreprocessSpec((1024, 512), color_order="bgr", scale=1.0, mean=(104, 117, 123), std=(1, 1, 1))
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("text,expected", [("1024x512", (1024, 512)), ("480X360", (480, 360))])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1024", "0x5", "axb", "10x20x30", "-1x4"])
def test_parse_size_rejects(text):
    with pytest.raises(ConfigError):
        parse_size(text)
