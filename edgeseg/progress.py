"""A progress bar for long loops: tqdm on stderr, only when stderr is a terminal and not silenced."""
import sys
from typing import Any, Optional


class Progress:
    """Callable `(done, total)` drawing a tqdm bar on stderr; silent when tqdm is not installed, stderr is
    not a terminal, or `enabled` is False (--quiet). `close()` removes the bar."""

    def __init__(self, unit: str, enabled: bool = True) -> None:
        self.unit, self.enabled = unit, enabled
        self._bar: Any = None

    def __call__(self, done: int, total: Optional[int] = None) -> None:
        if self._bar is None:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, unit=self.unit, file=sys.stderr,
                             disable=not (self.enabled and sys.stderr.isatty()), leave=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
