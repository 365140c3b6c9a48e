"""The significant words of a text (plugins/similarity.py), as incident and repeat_issue compare
tickets by them."""

from __future__ import annotations

import re

import pytest
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


@pytest.mark.parametrize("text", [
    "checkout webhook fails with 502",
    "dashboard: 404 on every widget since the deploy",
    "la page reste blanche, chargement infini",
    "kann mich nicht mehr anmelden",
    "invoice 4050 attached, thanks",  # a number, not a status
    "please reset my password",
    "export to csv",
    "",
])
def test_a_failure_is_reported_exactly_when_the_words_say_so(text):
    words = similarity.words_of(similarity.signature(()), text)
    told = not similarity.FAILING.isdisjoint(words) or any(
        w.startswith("http") and w[4:].isdigit() for w in words)
    assert similarity.reports_failure(text) is told
