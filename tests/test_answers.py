"""Reading answers in the forms students really write, from variables or answers.yaml."""
import pytest

from grader.answers import AnswerBook, AnswerError, Missing, parse_array, parse_integer, parse_number, parse_shape
from grader.rubric import AnswerSource


@pytest.mark.parametrize("raw, percent, expected", [
    (0.9786, True, 0.9786), (97.86, True, 0.9786), ("97.86 %", True, 0.9786), ("0.9786", True, 0.9786),
    ("1,792", False, 1792.0), ("−2.3", False, -2.3), (5, False, 5.0), ("3/4", False, 0.75), ([7.15], False, 7.15),
])
def test_numbers(raw, percent, expected):
    assert parse_number(raw, percent=percent) == pytest.approx(expected)


@pytest.mark.parametrize("raw", [None, True, "abc", "nan", float("inf"), {"a": 1}, [1, 2]])
def test_bad_numbers(raw):
    with pytest.raises(AnswerError):
        parse_number(raw)


def test_integers():
    assert parse_integer("73,856") == 73856
    assert parse_integer(1792.0) == 1792
    with pytest.raises(AnswerError, match="whole number"):
        parse_integer(2.5)


@pytest.mark.parametrize("raw, expected", [
    ((64, 256, 256), [64, 256, 256]), ("256x256x64", [256, 256, 64]), ("256 × 256 × 64", [256, 256, 64]),
    ("(64, 8, 8)", [64, 8, 8]), ("torch.Size([64, 8, 8])", [64, 8, 8]), ([2.0, 3], [2, 3]),
])
def test_shapes(raw, expected):
    assert parse_shape(raw) == expected


def test_arrays():
    assert parse_array("[[1, 2], [3, 4]]") == [[1.0, 2.0], [3.0, 4.0]]
    assert parse_array(((1, 2), (3, 4))) == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(AnswerError, match="different lengths"):
        parse_array([[1, 2], [3]])
    with pytest.raises(AnswerError):
        parse_array([["a"]])


def test_lookup_prefers_notebook_then_sidecar():
    book = AnswerBook({"a": {"ok": True, "value": 1}, "b": {"ok": True, "value": None},
                       "c": {"ok": False, "error": "TypeError: not plain data but a W object"}},
                      {"q2": 2, "q3": 3})
    assert book.lookup(AnswerSource(variable="a"), "q1").value == 1
    got = book.lookup(AnswerSource(variable="b"), "q2")   # still None in the notebook: the paper answer counts
    assert got.value == 2 and got.source == "answers.yaml: q2"
    bad = book.lookup(AnswerSource(variable="c"), "q9")
    assert isinstance(bad, Missing) and "not plain data" in bad.reason
    none = book.lookup(AnswerSource(variable="zz"), "q9")
    assert isinstance(none, Missing) and "variable zz" in none.reason


def test_sidecar_file_errors_are_reported(tmp_path):
    sub = tmp_path / "alice"
    sub.mkdir()
    (sub / "answers.yaml").write_text("q1: [1, 2\n")
    book = AnswerBook.load(sub, {"variables": {}})
    got = book.lookup(AnswerSource(variable="x"), "q1")
    assert isinstance(got, Missing) and "answers.yaml could not be read" in got.reason
