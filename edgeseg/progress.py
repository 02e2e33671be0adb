"""The one progress bar of long loops (calibration, training, eval, run): tqdm on stderr, only when stderr is a
terminal and not silenced."""
import sys
from typing import Any, Optional


class Progress:
    """A tqdm bar on stderr, silent when tqdm is not installed, stderr is not a terminal, or `enabled` is False
    (--quiet). Call it with `(done, total)`, or `advance()` it one step at a time (with an optional note shown
    after the bar); `close()` removes the bar."""

    def __init__(self, unit: str, enabled: bool = True, description: Optional[str] = None,
                 total: Optional[int] = None) -> None:
        self.unit, self.enabled, self.description, self.total = unit, enabled, description, total
        self._bar: Any = None
        self._done = 0

    def __call__(self, done: int, total: Optional[int] = None) -> None:
        if self._bar is None:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total if total is not None else self.total, desc=self.description,
                             unit=self.unit, file=sys.stderr, leave=False,
                             disable=not (self.enabled and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()))
        self._bar.update(done - self._bar.n)

    def advance(self, note: Optional[str] = None) -> None:
        """One more step done; `note` (the running loss, say) is shown after the bar."""
        self._done += 1
        self(self._done)
        if note is not None and self._bar is not None:
            self._bar.set_postfix_str(note, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
