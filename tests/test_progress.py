"""A run's progress in words: day n of N, the pace and the time left while it goes, and lines that
end the same on every run (what a notebook keeps and nbval compares)."""

from __future__ import annotations

from cmpsim.progress import NotebookProgress, Pace


def test_the_pace_says_the_day_the_rate_and_the_time_left():
    pace = Pace(clock=iter([10.0, 10.1, 12.0, 13.0]).__next__)
    assert pace.text(0.0, 7) == "day 1 of 7 · starting"
    assert pace.text(0.5, 7) == "day 1 of 7, 12:00 · starting"  # too soon to say a pace
    assert pace.text(2.0, 7) == "day 3 of 7 · 1.0 simulated days a second · about 5 s left"
    assert pace.text(2.25, 7) == "day 3 of 7, 06:00 · 1.3 s a simulated day · about 6 s left"
    assert pace.text(7.0, 7) == "7 of 7 days simulated"


def test_the_notebook_progress_ends_on_the_same_words_every_run():
    shown = NotebookProgress("baseline into quickstart", 4)
    bundle = shown._repr_mimebundle_()
    assert bundle["text/plain"] == "Simulating baseline into quickstart: 4 days"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "setting up the run database" in shown.line.value and "interrupt the kernel" in shown.hint.value
    shown(1.5, 4)
    assert shown.bar.value == 1.5 and "day 2 of 4, 12:00" in shown.line.value
    shown(4.0, 4)
    assert shown.bar.bar_style == "success" and "4 of 4 days simulated" in shown.line.value and not shown.hint.value
    stopped = NotebookProgress("baseline", 7)
    stopped.stopped(2.5, 7)
    assert stopped.bar.bar_style == "warning" and "stopped in day 3 of 7" in stopped.line.value


def test_a_display_is_redrawn_a_few_times_a_second_and_always_at_midnight_and_the_end():
    pace = Pace(clock=iter([0.0, 0.1, 0.2, 0.2, 0.5, 0.6]).__next__)
    assert [pace.redraw(done, 2) for done in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)] == [
        True, False, True, False, True, True]
