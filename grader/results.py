"""What grading produces: one ItemResult per rubric item, one SubmissionResult
per student. Report renderers read only these (see grader.reports)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["passed", "partial", "failed", "missing", "error", "pending", "hidden", "skipped"]
Grading = Literal["auto", "manual", "pending", "unverified"]
Kind = Literal["penpaper", "model", "retrain", "plot", "freetext", "execution"]


class ItemResult(BaseModel):
    id: str
    title: str
    kind: Kind
    max_score: float
    score: float = 0.0
    status: Status
    grading: Grading = "auto"
    hidden: bool = False
    extra_credit: bool = False
    message: str = Field("", description="one line: why this score")
    expected: Any = None
    given: Any = None
    source: str | None = Field(None, description="where the answer came from, e.g. 'variable L1_loss'")
    details: list[str] = Field(default_factory=list, description="further lines shown in the report")
    table: list[dict[str, Any]] | None = Field(None, description="rows for a per-layer or per-seed table")
    figures: list[str] = Field(default_factory=list, description="image files, relative to the student's report folder")
    unverified_score: float | None = Field(None, description="score reached only on offline / subset data")

    @property
    def name(self) -> str:
        return f"{self.id} {self.title}"


class ExecutionSummary(BaseModel):
    status: Literal["ok", "errors", "timeout", "killed", "invalid", "not-run"] = "not-run"
    message: str = ""
    duration: float = 0.0
    sandbox: str = "none"
    notebook: str | None = None
    cell_errors: list[str] = Field(default_factory=list)
    locked_cells_modified: list[str] = Field(default_factory=list)


class SubmissionResult(BaseModel):
    student: str
    assignment: str
    graded: bool = Field(True, description="False when nothing could be graded")
    reason: str = ""
    items: list[ItemResult] = Field(default_factory=list)
    execution: ExecutionSummary = Field(default_factory=ExecutionSummary)
    graded_at: str = ""
    grader_version: str = ""

    @property
    def score(self) -> float:
        return round(sum(i.score for i in self.items), 4)

    @property
    def max_score(self) -> float:
        return round(sum(i.max_score for i in self.items if not i.extra_credit), 4)

    def points_by_grading(self) -> dict[str, float]:
        out = {"auto": 0.0, "manual": 0.0, "pending": 0.0, "unverified": 0.0}
        for i in self.items:
            if i.grading == "pending":
                out["pending"] += i.max_score
            elif i.grading == "unverified":
                out["unverified"] += i.unverified_score or 0.0
            else:
                out[i.grading] += i.score
        return out
