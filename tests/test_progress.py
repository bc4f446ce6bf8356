"""The status line and the progress bar, on a stream that says it is a terminal and on one that does not."""

from __future__ import annotations

import io

from federation.app.progress import ERASE_LINE, ProgressBar, StatusLine


class Screen(io.StringIO):
    """What a terminal would receive."""

    def isatty(self) -> bool:
        return True


def test_a_new_status_erases_the_old_one():
    screen = Screen()
    line = StatusLine(screen)
    line.show("t = 100 s, a long status")
    line.show("t = 2 min")
    assert screen.getvalue() == f"t = 100 s, a long status{ERASE_LINE}t = 2 min"


def test_other_output_goes_above_the_status():
    screen = Screen()
    line = StatusLine(screen)
    line.show("[###---]")
    print("WARNING federation: something", file=line)
    line.close()
    assert screen.getvalue() == f"[###---]{ERASE_LINE}WARNING federation: something\n[###---]{ERASE_LINE}"


def test_a_question_hides_the_status_until_it_is_answered():
    screen = Screen()
    line = StatusLine(screen)
    line.show("[#-----]")
    line.ask("decision 1: approve [a]? ")
    line.show("[##----]")  # the run goes on meanwhile: not drawn over the question
    line.answered("a")  # the terminal echoed "a" and Enter
    assert screen.getvalue() == f"[#-----]{ERASE_LINE}decision 1: approve [a]? [##----]"


def test_a_pipe_gets_the_text_and_no_status():
    stream = io.StringIO()
    line = StatusLine(stream)
    line.show("[###---]")
    line.write("WARNING federation: something\n")
    line.ask("decision 1: approve [a]? ")
    line.answered("a")
    line.close()
    assert stream.getvalue() == "WARNING federation: something\ndecision 1: approve [a]? a\n"


def test_the_eta_follows_simulated_time_against_wall_time():
    now = [100.0]
    bar = ProgressBar(0.0, 3600.0, StatusLine(Screen()), clock=lambda: now[0])
    assert bar.eta(0.0, now[0]) == "--"
    now[0] = 101.0
    bar(0.0)  # the first report: stepping starts here
    now[0] = 111.0
    bar(900.0)  # a quarter in 10 s
    assert bar.eta(900.0, now[0]) == "30 s"
    assert bar.render(900.0, now[0]) == "[#######-----------------------]  25.0%  t = 15 min  (11 s wall, ETA 30 s)"
