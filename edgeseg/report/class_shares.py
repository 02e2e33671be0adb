"""segnet's --stats over a whole run: each class's share of the class-map pixels, in bounded memory (one
bincount per frame, summed)."""
from typing import Any, Dict, List, Sequence

import numpy as np


class ClassShares:
    """Pixels per class id over every class map added; `summary()` for the report (`format_shares` prints it)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.counts: np.ndarray = np.zeros(max(256, len(self.names)), np.int64)
        self.frames = 0

    def add(self, class_map: np.ndarray) -> None:
        self.counts += np.bincount(class_map.ravel(), minlength=len(self.counts))[:len(self.counts)]
        self.frames += 1

    def summary(self) -> Dict[str, Any]:
        total = int(self.counts.sum())
        classes: List[Dict[str, Any]] = []
        for index, count in enumerate(self.counts.tolist()):
            if index < len(self.names) or count:
                classes.append({"id": index, "name": self.names[index] if index < len(self.names) else None,
                                "pixels": count, "share": count / total if total else 0.0})
        return {"frames": self.frames, "pixels": total, "classes": classes}


def format_shares(summary: Dict[str, Any]) -> str:
    """ID, name, pixels and percentage per class, as segnet's --stats prints them (here for the whole run)."""
    lines = ["class shares over {} frames".format(summary["frames"]), " ID  class name            pixels        %"]
    for row in summary["classes"]:
        lines.append(" {:>2d}  {:<18s} {:>10d}  {:>6.2f}".format(row["id"], str(row["name"]), row["pixels"],
                                                               100 * row["share"]))
    return "\n".join(lines)
