"""The significant words of a text (plugins/similarity.py), as incident and repeat_issue compare
tickets by them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from plugins import similarity

# The pattern the ASCII split stands in for: runs of two or more letters, in any script.
LETTER_RUNS = re.compile(r"[^\W\d_]{2,}")


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.text(st.sampled_from("abz AZ09_-'.,\n\0\tßéİ\u212aж"), max_size=60))
def test_letter_runs_split_in_c_are_the_patterns_runs(text):
    lowered = text.lower()
    assert similarity._letter_runs(lowered) == set(LETTER_RUNS.findall(lowered))


def test_significant_words_drop_digits_stop_words_and_plural_endings():
    sig = similarity.signature(("acme",))
    assert sig("Re: ACME exports fail, errors 3x since Monday; the access logs") == \
        {"export", "fail", "error", "monday", "access", "log"}
    assert sig("Le tableau n'affiche rien depuis 9h") == {"tableau", "affiche"}
