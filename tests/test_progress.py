"""`edgeseg.progress`: the one progress bar (calibration, training, eval, run) draws on a terminal only."""
import io

from edgeseg.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_counts_steps_and_shows_its_note_on_a_terminal(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with Progress("step", description="epoch 1/2", total=3) as bar:
        for loss in (0.5, 0.25, 0.125):
            bar.advance("loss {:.3f}".format(loss))
        bar(3)  # absolute counts agree with the steps advanced
        assert bar._bar.n == 3 and bar._bar.postfix == "loss 0.125"  # tqdm redraws at most every 0.1 s
    assert "epoch 1/2" in terminal.getvalue() and "/3" in terminal.getvalue()


def test_the_bar_is_silent_off_a_terminal_and_when_quiet(monkeypatch):
    for stream, enabled in ((io.StringIO(), True), (Terminal(), False)):
        monkeypatch.setattr("sys.stderr", stream)
        with Progress("img", enabled=enabled, total=2) as bar:
            bar.advance()
            bar.advance()
        assert stream.getvalue() == ""
