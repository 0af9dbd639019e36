"""Every bad input of the catalogue gives its clear error, and docs/errors.md shows them all."""

import warnings
from pathlib import Path

import pytest

from .bad_inputs import CASES, render

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.area}: {c.what}"[:80])
def test_a_bad_input_gives_a_clear_error(case, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(case.error, match=case.match) as caught:
            case.call(tmp_path)
    message = str(caught.value)
    assert "Traceback" not in message and len(message) < 1200


def test_the_docs_table_is_generated_from_the_catalogue():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = render()
    actual = (ROOT / "docs" / "errors.md").read_text()
    assert actual == expected, ("docs/errors.md is out of date: run "
                                "`python -m tests.bad_inputs > docs/errors.md`")
