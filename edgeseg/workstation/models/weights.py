"""Loading weights: a local file (state_dict or checkpoint) or a torchvision weights enum name."""
import os
import pickle
import re
from typing import Any, Dict, Tuple

import torch

from ...errors import ArtifactError

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def load_torch_file(path: str, what: str = "weights") -> Any:
    """`torch.load(path, weights_only=True)`: tensors and plain containers only, so no code in the file runs.
    A refusal or an unreadable file is an ArtifactError in one line (not torch's advice on loading it anyway)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ArtifactError("{}: refused: the file holds Python objects besides tensors, and edgeseg loads "
                            "{} only as tensors (no code from a file runs); save a plain state_dict".format(path, what))
    except Exception as exc:
        reason = _ANSI_RE.sub("", str(exc)).strip().splitlines()
        raise ArtifactError("{}: cannot load {} ({}); it must be a file torch.save wrote".format(
            path, what, (reason[0] if reason else type(exc).__name__)[:200]))


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """A state_dict from `path` (plain, or under 'model'/'state_dict'), loaded with weights_only=True."""
    if not os.path.isfile(path):
        raise ArtifactError("{}: weights file not found; pass a .pt/.pth path or a torchvision weights name".format(
            path))
    state = load_torch_file(path)
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ArtifactError("{}: holds a {}, not a state_dict".format(path, type(state).__name__))
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def load_into(model: torch.nn.Module, path: str, skip_prefixes: Tuple[str, ...] = (), inner: str = "") -> None:
    """Load `path` into `model` strictly (but for keys under `skip_prefixes`); a mismatch names the
    file and the first differing keys. With `inner` (e.g. "model."), a state_dict of the wrapped
    inner module (a plain torchvision one) loads too."""
    state = {k: v for k, v in load_state_dict(path).items() if not k.startswith(skip_prefixes)}
    own = model.state_dict()
    if inner and state and not any(k in own for k in state):
        state = {inner + k: v for k, v in state.items()}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if missing or unexpected or reshaped:
        raise ArtifactError(
            "{}: weights do not fit the model (missing {}, unexpected {}, other shape {}; e.g. {}); "
            "check the model name and --num-classes".format(
                path, len(missing), len(unexpected), len(reshaped), (missing + unexpected + reshaped)[:3]))
    model.load_state_dict(state)
