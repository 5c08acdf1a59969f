"""The rubric: one YAML file per assignment, validated into typed objects.

A rubric names the assignment, its limits and data sets, the data its
pen-and-paper questions are about, and one item per gradable thing. Each item
has a ``check`` whose ``type`` decides how it is graded:

``value``      a pen-and-paper answer compared with a reference grader computes
``freetext``   a written answer that goes to the manual-review queue
``model``      architecture / parameter / hidden-unit constraints on a model
``retrain``    grader retrains the student's model and checks the accuracy
``function``   a from-scratch function (backprop, optimizer step) vs autograd
``plot``       the notebook must show figures
``execution``  the notebook must run without errors
``hidden``     what ``grader publish`` leaves of a hidden item
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .yamlpos import YamlError, load_located

ITEM_KINDS = ("penpaper", "model", "retrain", "plot", "freetext", "execution")
DATASETS = ("mnist", "fashion-mnist", "cifar10")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$")


def parse_size(value: int | str) -> int:
    """'512M' -> bytes. Plain integers are bytes."""
    if isinstance(value, int):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"expected a size like 512M or 2G, got {value!r}")
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    return int(float(m.group(1)) * factor)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tolerance(Strict):
    abs: float = Field(1e-6, ge=0)
    rel: float = Field(0.0, ge=0)


class Limits(Strict):
    notebook_timeout: int = Field(900, gt=0, description="wall seconds for one whole notebook")
    cell_timeout: int = Field(300, gt=0, description="wall seconds for one cell")
    memory: int = Field(parse_size("4G"), description="resident memory of the kernel and its children")
    output: int = Field(parse_size("2M"), description="captured output per notebook")
    processes: int = Field(256, gt=0)
    disk: int = Field(parse_size("1G"), description="largest file the notebook may write")

    @field_validator("memory", "output", "disk", mode="before")
    @classmethod
    def _size(cls, v: Any) -> int:
        return parse_size(v)


class Execution(Strict):
    notebook: str = Field("*.ipynb", description="glob for the notebook inside a submission folder")
    skip_tags: list[str] = Field(default_factory=lambda: ["long-running"])
    locked_tags: list[str] = Field(default_factory=lambda: ["locked"])
    template: str | None = Field(None, description="template notebook (relative to the rubric) for locked-cell checksums")


class Assignment(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str
    course: str = ""
    handout: str | None = None


class AnswerSource(Strict):
    """Where the student's answer is read from."""

    variable: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    sidecar: str | None = Field(None, description="key in answers.yaml; defaults to the item id")

    @classmethod
    def coerce(cls, v: Any) -> Any:
        return {"variable": v} if isinstance(v, str) else v


class Compute(Strict):
    """A reference calculation: ``compute`` names a function of grader.reference,
    ``args`` are literals, ``$name`` (rubric data), ``@item`` (another item's
    expected value) or nested computations."""

    compute: str
    args: dict[str, Any] = Field(default_factory=dict)


class Compare(Strict):
    kind: Literal["number", "array", "shape", "integer", "text", "choice"] = "number"
    percent: bool = Field(False, description="accept 0.9786 and 97.86 % alike")
    layouts: list[Literal["CHW", "HWC", "HW"]] = Field(default_factory=lambda: ["CHW"])
    tolerance: Tolerance | None = None
    partial: bool = Field(False, description="credit per element of an array")
    choices: list[str] = Field(default_factory=list)

    @classmethod
    def coerce(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v


class ValueCheck(Strict):
    type: Literal["value"]
    expected: Compute | Any
    compare: Annotated[Compare, Field(default_factory=Compare)]
    carry_forward: float = Field(0.0, ge=0, le=1, description="share of the points for an answer right w.r.t. the student's own earlier answers")
    diagnose: bool = True

    @field_validator("compare", mode="before")
    @classmethod
    def _compare(cls, v: Any) -> Any:
        return Compare.coerce(v)

    @field_validator("expected", mode="before")
    @classmethod
    def _expected(cls, v: Any) -> Any:
        return Compute.model_validate(v) if isinstance(v, dict) and "compute" in v else v


class Deduction(Strict):
    points: float = Field(ge=0)
    text: str


class FreeTextCheck(Strict):
    type: Literal["freetext"]
    prompt: str = ""
    deductions: list[Deduction] = Field(default_factory=list)
    cell_tag: str | None = Field(None, description="cells with this tag are shown to the reviewer")


class ModelSource(Strict):
    """What to take out of the notebook to build the model."""

    class_name: str | None = Field(None, alias="class")
    builder: str | None = None
    variable: str | None = None
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one(self) -> "ModelSource":
        if sum(x is not None for x in (self.class_name, self.builder, self.variable)) != 1:
            raise ValueError("name exactly one of class, builder or variable")
        return self


class LayerSpec(Strict):
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    output_shape: list[int] | None = None


class ModelCheck(Strict):
    type: Literal["model"]
    model: ModelSource
    input_shape: list[int] = Field(description="one example, without the batch dimension, e.g. [1, 28, 28]")
    output_shape: list[int] | None = None
    max_params: int | None = None
    min_params: int | None = None
    exact_params: int | None = None
    max_hidden_units: int | None = None
    min_hidden_layers: int | None = None
    allowed_layers: list[str] | None = None
    required_layers: dict[str, int] = Field(default_factory=dict, description="layer type -> minimum count")
    architecture: list[LayerSpec] | None = None
    claimed_params: AnswerSource | None = None

    @field_validator("claimed_params", mode="before")
    @classmethod
    def _claimed(cls, v: Any) -> Any:
        return AnswerSource.coerce(v)


class Protocol(Strict):
    dataset: Literal["mnist", "fashion-mnist", "cifar10"]
    resize: int | None = None
    normalize: list[list[float]] | Literal["auto"] | None = "auto"
    train_subset: int | None = None
    per_class: int | None = Field(None, description="take this many training images per class")
    test_subset: int | None = None
    epochs: int = Field(1, gt=0)
    batch_size: int = Field(64, gt=0)
    optimizer: Literal["sgd", "adam"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    loss: Literal["cross_entropy", "nll", "auto"] = "auto"
    seeds: list[int] = Field(default_factory=lambda: [0])


class Claim(Strict):
    variable: str | None = None
    pattern: str | None = Field(None, description="regex on the printed output; group 1 is the accuracy")
    percent: bool = True


class Offline(Strict):
    dataset: str | None = None
    protocol: dict[str, Any] = Field(default_factory=dict, description="overrides of the protocol")
    threshold: float


class RetrainCheck(Strict):
    type: Literal["retrain"]
    model: ModelSource
    protocol: Protocol
    threshold: float = Field(gt=0, le=1, description="accuracy as a fraction, e.g. 0.99")
    margin: float = Field(0.0, ge=0, description="allowed shortfall for seed and test-set noise")
    offline: Offline | None = None
    claim: Claim | None = None


class FunctionCheck(Strict):
    type: Literal["function"]
    function: str
    reference: str = Field(description="name of the reference in grader.models.fromscratch")
    params: dict[str, Any] = Field(default_factory=dict)
    tolerance: Tolerance | None = None


class PlotCheck(Strict):
    type: Literal["plot"]
    min_figures: int = Field(1, ge=1)
    cell_tag: str | None = Field(None, description="count only figures from cells with this tag")
    review: bool = Field(False, description="also send to manual review")


class ExecutionCheck(Strict):
    type: Literal["execution"]
    max_errors: int = 0


class HiddenCheck(Strict):
    type: Literal["hidden"]
    kind: Literal["penpaper", "model", "retrain", "plot", "freetext", "execution"]


Check = Annotated[
    Union[ValueCheck, FreeTextCheck, ModelCheck, RetrainCheck, FunctionCheck, PlotCheck, ExecutionCheck, HiddenCheck],
    Field(discriminator="type"),
]

_KIND = {
    "value": "penpaper", "freetext": "freetext", "model": "model", "retrain": "retrain",
    "function": "model", "plot": "plot", "execution": "execution",
}


class Item(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._()-]*$")
    title: str
    points: float = Field(gt=0)
    hidden: bool = False
    extra_credit: bool = False
    answer: AnswerSource | None = None
    check: Check

    @field_validator("answer", mode="before")
    @classmethod
    def _answer(cls, v: Any) -> Any:
        return AnswerSource.coerce(v)

    @property
    def kind(self) -> str:
        return self.check.kind if isinstance(self.check, HiddenCheck) else _KIND[self.check.type]

    @model_validator(mode="after")
    def _needs_answer(self) -> "Item":
        if isinstance(self.check, ValueCheck) and self.answer is None:
            raise ValueError("a value check needs an 'answer' (the variable or answers.yaml key)")
        return self


class Defaults(Strict):
    tolerance: Tolerance = Field(default_factory=Tolerance)


class Rubric(Strict):
    assignment: Assignment
    defaults: Defaults = Field(default_factory=Defaults)
    limits: Limits = Field(default_factory=Limits)
    execution: Execution = Field(default_factory=Execution)
    datasets: list[Literal["mnist", "fashion-mnist", "cifar10"]] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    items: list[Item] = Field(min_length=1)
    public: bool = Field(False, description="set by grader publish: hidden items' parameters are stripped")

    # not part of the YAML: where the rubric lives, to resolve relative paths
    source: Path | None = Field(None, exclude=True)

    def item(self, item_id: str) -> Item:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def resolve(self, relpath: str) -> Path:
        base = self.source.parent if self.source else Path.cwd()
        return (base / relpath).resolve()

    @property
    def max_score(self) -> float:
        return sum(i.points for i in self.items if not i.extra_credit)

    @model_validator(mode="after")
    def _unique_and_refs(self) -> "Rubric":
        seen: set[str] = set()
        for n, it in enumerate(self.items):
            if it.id in seen:
                raise _LocatedValueError(("items", n, "id"), f"duplicate item id {it.id!r}")
            seen.add(it.id)
        for n, it in enumerate(self.items):
            if isinstance(it.check, ValueCheck):
                _check_refs(it.check.expected, self, earlier={i.id for i in self.items[:n]},
                            loc=("items", n, "check", "expected"))
        return self


class _LocatedValueError(ValueError):
    def __init__(self, loc: tuple, msg: str):
        super().__init__(msg)
        self.loc = loc


def _check_refs(expr: Any, rubric: Rubric, earlier: set[str], loc: tuple) -> None:
    from .reference import COMPUTATIONS  # late: reference imports torch

    if isinstance(expr, Compute):
        if expr.compute not in COMPUTATIONS:
            known = ", ".join(sorted(COMPUTATIONS))
            raise _LocatedValueError(loc + ("compute",), f"unknown computation {expr.compute!r}; known: {known}")
        for k, v in expr.args.items():
            _check_refs(v, rubric, earlier, loc + ("args", k))
    elif isinstance(expr, dict):
        if "compute" in expr:
            _check_refs(Compute.model_validate(expr), rubric, earlier, loc)
        else:
            for k, v in expr.items():
                _check_refs(v, rubric, earlier, loc + (k,))
    elif isinstance(expr, list):
        for i, v in enumerate(expr):
            _check_refs(v, rubric, earlier, loc + (i,))
    elif isinstance(expr, str) and expr.startswith("$"):
        if expr[1:] not in rubric.data:
            raise _LocatedValueError(loc, f"{expr} names no entry of 'data' (have: {', '.join(rubric.data) or 'none'})")
    elif isinstance(expr, str) and expr.startswith("@"):
        if expr[1:] not in earlier:
            raise _LocatedValueError(loc, f"{expr} must name an earlier item")


class RubricError(Exception):
    """A rubric is invalid; ``problems`` lists 'file:line: field: message' strings."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(problems))


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_rubric(path: str | Path) -> Rubric:
    """Load and validate a rubric; raise RubricError naming file, line and field."""
    path = Path(path)
    try:
        located = load_located(path)
    except YamlError as exc:
        raise RubricError(path, [str(exc)]) from None
    if not isinstance(located.data, dict):
        raise RubricError(path, [f"{path}:1: expected a mapping with 'assignment' and 'items' at the top"])
    try:
        rubric = Rubric.model_validate(located.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            ctx_err = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_err, _LocatedValueError):
                loc = loc + ctx_err.loc if not loc else ctx_err.loc
                msg = str(ctx_err)
            else:
                msg = err["msg"]
                if err["type"] == "missing":
                    msg = "required field is missing"
                elif err["type"] == "extra_forbidden":
                    msg = "unknown field (check the spelling)"
                elif err["type"] == "union_tag_invalid":
                    msg = f"unknown check type; expected one of {err['ctx']['expected_tags']}"
            line = located.line_of(loc)
            problems.append(f"{path}:{line}: {_format_loc(loc) or '(top)'}: {msg}")
        raise RubricError(path, problems) from None
    return rubric.model_copy(update={"source": path.resolve()})


def publish(rubric: Rubric) -> dict:
    """The students' copy: hidden items keep id, title, points and kind only."""
    data = rubric.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["public"] = True
    for item, raw in zip(rubric.items, data["items"]):
        if item.hidden:
            raw["check"] = {"type": "hidden", "kind": item.kind}
            raw.pop("answer", None)
    # data entries only hidden items use stay private
    used: set[str] = set()
    for item, raw in zip(rubric.items, data["items"]):
        if not item.hidden:
            used |= set(re.findall(r"\$([A-Za-z0-9_]+)", yaml.safe_dump(raw.get("check", {}))))
    data["data"] = {k: v for k, v in data.get("data", {}).items() if k in used}
    data["execution"].pop("template", None)
    return data


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
