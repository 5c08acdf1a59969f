"""The rubric validator: errors name the file, the line, the field and what was expected."""
from pathlib import Path

import pytest
import yaml

from grader.rubric import RubricError, load_rubric, parse_size, publish

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
assignment: {id: demo, title: Demo}
data:
  x: [[1, 2], [3, 4]]
items:
  - id: q1
    title: ReLU
    points: 2
    answer: relu_out
    check:
      type: value
      expected: {compute: relu, args: {input: $x}}
      compare: array
  - id: q2
    title: secret
    points: 1
    hidden: true
    answer: secret
    check: {type: value, expected: 42, compare: integer}
"""


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def problems(tmp_path, text):
    with pytest.raises(RubricError) as exc:
        load_rubric(write(tmp_path, text))
    return exc.value.problems


def test_valid_rubric_loads(tmp_path):
    r = load_rubric(write(tmp_path, GOOD))
    assert r.assignment.id == "demo"
    assert [i.kind for i in r.items] == ["penpaper", "penpaper"]
    assert r.max_score == 3
    assert r.items[0].answer.variable == "relu_out"


def test_shipped_rubrics_are_valid():
    for path in sorted((ROOT / "rubrics").glob("*.yaml")):
        load_rubric(path)


def test_missing_field_names_line_and_field(tmp_path):
    text = GOOD.replace("    points: 2\n", "")
    [p] = problems(tmp_path, text)
    assert p.startswith(f"{tmp_path / 'r.yaml'}:5:")
    assert "items[0].points" in p and "required" in p


def test_wrong_type_points_at_its_line(tmp_path):
    text = GOOD.replace("points: 2", "points: two")
    [p] = problems(tmp_path, text)
    assert ":7:" in p and "items[0].points" in p and "number" in p


def test_unknown_check_type(tmp_path):
    text = GOOD.replace("type: value\n      expected: {compute", "type: valeu\n      expected: {compute")
    [p] = problems(tmp_path, text)
    assert ":10:" in p and "unknown check type" in p and "'value'" in p


def test_unknown_computation(tmp_path):
    text = GOOD.replace("compute: relu", "compute: reluu")
    [p] = problems(tmp_path, text)
    assert "unknown computation 'reluu'" in p and ":11:" in p


def test_reference_to_missing_data_and_later_item(tmp_path):
    assert "names no entry of 'data'" in problems(tmp_path, GOOD.replace("$x", "$y"))[0]
    assert "earlier item" in problems(tmp_path, GOOD.replace("$x", "'@q2'"))[0]


def test_duplicate_ids_and_unknown_fields(tmp_path):
    assert any("duplicate item id" in p for p in problems(tmp_path, GOOD.replace("id: q2", "id: q1")))
    assert any("unknown field" in p and "pointz" in p for p in problems(tmp_path, GOOD.replace("points: 1", "pointz: 1")))


def test_yaml_syntax_error_has_line(tmp_path):
    [p] = problems(tmp_path, GOOD.replace("title: ReLU", "title: [ReLU"))
    assert "invalid YAML" in p and ":6:" in p or ":7:" in p


def test_sizes():
    assert parse_size("512M") == 512 * 2**20
    assert parse_size("2G") == 2 * 2**30
    assert parse_size(1000) == 1000
    with pytest.raises(ValueError):
        parse_size("lots")


def test_publish_strips_hidden_parameters(tmp_path):
    r = load_rubric(write(tmp_path, GOOD))
    data = publish(r)
    hidden = data["items"][1]
    assert hidden["check"] == {"type": "hidden", "kind": "penpaper"}
    assert "answer" not in hidden and "42" not in yaml.safe_dump(hidden)
    # the public copy is itself a valid rubric
    p = tmp_path / "public.yaml"
    p.write_text(yaml.safe_dump(data))
    pub = load_rubric(p)
    assert pub.public and pub.items[1].check.type == "hidden"
