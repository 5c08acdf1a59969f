"""Students' answers: where they come from and the forms students really write.

Answers come from two places, in this order:

1. a variable of the executed notebook (extracted as plain JSON by grader.execute);
2. ``answers.yaml`` in the submission folder as handed in (homework done on paper),
   keyed by item id — never a file the notebook wrote while running.

``parse_*`` functions turn what a student wrote into numbers, arrays and shapes,
or raise ``AnswerError`` with a message a student understands.
"""
from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .rubric import AnswerSource, Item

SIDECAR = "answers.yaml"
MAX_SIDECAR_BYTES = 1 * 2**20


class AnswerError(ValueError):
    """The answer is there but cannot be read as what the question asks for."""


@dataclass(frozen=True)
class Answer:
    value: Any
    source: str          # "variable L1_loss" or "answers.yaml: 1a"


@dataclass(frozen=True)
class Missing:
    reason: str
    source: str


class AnswerBook:
    """Looks answers up for rubric items."""

    def __init__(self, variables: dict[str, Any] | None, sidecar: dict[str, Any] | None,
                 sidecar_problem: str = ""):
        self.variables = variables or {}
        self.sidecar = sidecar or {}
        self.sidecar_problem = sidecar_problem

    @classmethod
    def load(cls, submission: Path, execution: dict[str, Any]) -> "AnswerBook":
        sidecar, problem = read_sidecar(submission)
        return cls(execution.get("variables"), sidecar, problem)

    def lookup(self, source: AnswerSource, item_id: str | None = None) -> Answer | Missing:
        key = source.sidecar or item_id
        tried = []
        if source.variable:
            got = self.variables.get(source.variable)
            if isinstance(got, dict) and got.get("ok") and got.get("value") is not None:
                return Answer(got.get("value"), f"variable {source.variable}")
            if isinstance(got, dict) and not got.get("ok") and got.get("error") != "not defined":
                # defined but unreadable: say so rather than silently falling back
                if key is None or key not in self.sidecar:
                    return Missing(f"variable {source.variable} could not be read: {got.get('error')}",
                                   f"variable {source.variable}")
            tried.append(f"variable {source.variable}" + (" (still None)" if isinstance(got, dict) and got.get("ok") else ""))
        if key is not None and key in self.sidecar:
            return Answer(self.sidecar[key], f"{SIDECAR}: {key}")
        if key is not None and (source.sidecar or not source.variable):
            tried.append(f"{SIDECAR} key {key!r}")
        elif key is not None and self.sidecar:
            tried.append(f"{SIDECAR} key {key!r}")
        why = "no answer found (looked for " + " and ".join(tried) + ")"
        if self.sidecar_problem:
            why += f"; {self.sidecar_problem}"
        return Missing(why, tried[0] if tried else "")

    def get(self, item: Item) -> Answer | Missing:
        if item.answer is None:
            return Missing("the rubric names no answer for this item", "")
        return self.lookup(item.answer, item.id)


def read_sidecar(submission: Path) -> tuple[dict[str, Any], str]:
    path = submission / SIDECAR if submission.is_dir() else None
    if path is None or not path.exists():
        return {}, ""
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        return {}, f"{SIDECAR} is larger than 1 MB and was ignored"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        return {}, f"{SIDECAR} could not be read{where}: {getattr(exc, 'problem', exc)}"
    if data is None:
        return {}, ""
    if not isinstance(data, dict):
        return {}, f"{SIDECAR} must map item ids to answers"
    return {str(k): v for k, v in data.items()}, ""


# ---------------------------------------------------------------- parsing

_NUM = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def parse_number(value: Any, *, percent: bool = False) -> float:
    """A real number. With ``percent``, 97.86, '97.86 %' and 0.9786 all mean 0.9786."""
    was_percent = False
    if isinstance(value, bool):
        raise AnswerError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        x = float(value)
    elif isinstance(value, str):
        text = value.strip().replace("\u2212", "-").replace(" ", "")
        if text.endswith("%"):
            was_percent, text = True, text[:-1]
        text = re.sub(r"(?<=\d),(?=\d{3}(\D|$))", "", text)  # 1,792 -> 1792
        if _NUM.match(text):
            x = float(text)
        elif re.fullmatch(r"[-+]?\d+/\d+", text):
            num, den = text.split("/")
            if float(den) == 0:
                raise AnswerError(f"{value!r} divides by zero")
            x = float(num) / float(den)
        else:
            raise AnswerError(f"expected a number, got {value!r}")
    elif isinstance(value, list) and len(value) == 1:
        return parse_number(value[0], percent=percent)
    else:
        raise AnswerError(f"expected a number, got {_describe(value)}")
    if not math.isfinite(x):
        raise AnswerError(f"expected a finite number, got {value!r}")
    if percent and (was_percent or 1.0 < abs(x) <= 100.0):
        x /= 100.0
    return x


def parse_integer(value: Any) -> int:
    x = parse_number(value)
    if abs(x - round(x)) > 1e-9:
        raise AnswerError(f"expected a whole number, got {value!r}")
    return int(round(x))


def parse_array(value: Any) -> Any:
    """A number or a (nested, rectangular) list of numbers; strings like '[[1, 2], [3, 4]]' too."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise AnswerError(f"expected a list or matrix of numbers, got {value!r}") from None
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        out = [parse_array(v) for v in value]
        shapes = {repr(shape_of(v)) for v in out}
        if len(shapes) > 1:
            raise AnswerError("the rows have different lengths")
        return out
    return parse_number(value)


def shape_of(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


_SHAPE_SPLIT = re.compile(r"\s*(?:[x×*,]|\s)\s*")


def parse_shape(value: Any) -> list[int]:
    """(64, 256, 256), [64, 256, 256], '64x256x256', '256 × 256 × 64', 'torch.Size([64, 8, 8])'."""
    if isinstance(value, str):
        text = value.strip()
        text = re.sub(r"^(torch\.)?Size\(\s*\[?|\]?\s*\)$", "", text)
        text = text.strip("()[] ")
        parts = [p for p in _SHAPE_SPLIT.split(text) if p]
        if not parts:
            raise AnswerError(f"expected a shape like (C, H, W), got {value!r}")
        value = parts
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise AnswerError(f"expected a shape like (C, H, W), got {_describe(value)}")
    try:
        return [parse_integer(v) for v in value]
    except AnswerError:
        raise AnswerError(f"expected a shape of whole numbers, got {value!r}") from None


def parse_text(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise AnswerError(f"expected text, got {_describe(value)}")
    return " ".join(value.split())


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)[:60]
