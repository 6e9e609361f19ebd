"""The progress lines (harness.progress), without a pytest run: counts and seconds in, text out."""

from harness.progress import HEARTBEAT_S, draw, heartbeat_line, pair_name, progress_line

NAME = "tfidf-logreg · supervised"


def test_nothing_done_yet_is_an_empty_bar_without_eta():
    assert progress_line(NAME, 0, 453, 0.0) == \
        "tfidf-logreg · supervised  [........................] 0/453  0 s elapsed"


def test_a_partial_pair_shows_its_bar_and_an_eta_from_the_pace_so_far():
    assert progress_line(NAME, 1, 453, 5.3) == \
        "tfidf-logreg · supervised  [........................] 1/453  5 s elapsed, ETA 2396 s"
    assert progress_line(NAME, 113, 452, 2.0) == \
        "tfidf-logreg · supervised  [######..................] 113/452  2 s elapsed, ETA 6 s"


def test_a_finished_pair_has_a_full_bar_and_no_eta():
    assert progress_line(NAME, 453, 453, 6.4) == \
        "tfidf-logreg · supervised  [########################] 453/453  6 s elapsed"


def test_the_heartbeat_line_says_the_pair_is_still_running():
    assert heartbeat_line(NAME, 64, 80, 30.0) == \
        "tfidf-logreg · supervised  [###################.....] 64/80  30 s elapsed, ETA 8 s  (running)"


def test_the_default_task_is_left_out_of_the_name():
    assert pair_name(("fpb-sentiment", "tfidf-logreg", "supervised"), "fpb-sentiment") == NAME
    assert pair_name(("tatqa", "smollm2-135m", "zero_shot"), "fpb-sentiment") == "tatqa · smollm2-135m · zero_shot"


def test_on_a_terminal_the_first_line_is_written_then_rewritten_at_most_twice_a_second():
    assert draw(1, 10, tty=True, since_last_draw=0.0) == "write"
    assert draw(2, 10, tty=True, since_last_draw=0.1) is None
    assert draw(3, 10, tty=True, since_last_draw=0.6) == "rewrite"
    assert draw(10, 10, tty=True, since_last_draw=0.0) == "rewrite"  # the last item is always drawn


def test_without_a_terminal_a_new_line_at_most_every_heartbeat_and_at_the_end():
    assert draw(1, 10, tty=False, since_last_draw=1.0) is None
    assert draw(2, 10, tty=False, since_last_draw=HEARTBEAT_S) == "write"
    assert draw(10, 10, tty=False, since_last_draw=0.0) == "write"
