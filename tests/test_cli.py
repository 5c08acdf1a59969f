"""The command line: exit codes, validate, publish and a student's self-check."""
from pathlib import Path

import yaml
from typer.testing import CliRunner

from grader.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_validate_ok_and_broken(tmp_path):
    ok = runner.invoke(app, ["validate", str(ROOT / "rubrics" / "tmu-hw4.yaml")])
    assert ok.exit_code == 0 and "tmu-hw4" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "rubrics" / "tmu-hw4.yaml").read_text().replace("points: 2\n", "points: -2\n", 1))
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:" in res.output and "points" in res.output and "greater than 0" in res.output


def test_grade_bad_usage_exits_2(tmp_path):
    res = runner.invoke(app, ["grade", str(ROOT / "rubrics" / "tmu-hw4.yaml"), str(tmp_path / "nope")])
    assert res.exit_code == 2
    res = runner.invoke(app, ["grade", str(ROOT / "rubrics" / "tmu-hw4.yaml"), str(tmp_path), "--memory-limit", "lots"])
    assert res.exit_code == 2


def test_publish_then_self_check(tmp_path, data_root):
    public = tmp_path / "public.yaml"
    rubric = yaml.safe_load((ROOT / "rubrics" / "tmu-hw4.yaml").read_text())
    rubric["items"][-1]["hidden"] = True            # make the execution item hidden for this test
    full = tmp_path / "full.yaml"
    full.write_text(yaml.safe_dump(rubric))
    # relative paths inside the rubric resolve against the rubric's folder
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(rubric).replace("../assignments", str(ROOT / "assignments")))
    assert runner.invoke(app, ["publish", str(full), "--out", str(public)]).exit_code == 0
    text = public.read_text()
    assert "type: hidden" in text and "public: true" in text
    nb = ROOT / "submissions" / "tmu-hw4" / "flipped-kernel-student.ipynb"
    res = runner.invoke(app, ["check", str(public), str(nb), "--no-retrain", "--data", str(data_root)])
    assert res.exit_code == 1, res.output                 # visible automatic items fail
    assert "flipped the kernel" in res.output and "hidden" in res.output
    ref = ROOT / "submissions" / "tmu-hw4" / "reference.ipynb"
    junit = tmp_path / "report.xml"
    res = runner.invoke(app, ["check", str(public), str(ref), "--no-retrain", "--data", str(data_root),
                              "--junit", str(junit)])
    assert res.exit_code == 0, res.output
    import xml.etree.ElementTree as ET
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "24" and suite.get("failures") == "0"
    hidden = [c for c in suite if c.get("name").startswith("run ")][0]
    assert hidden.find("skipped").get("message").startswith("hidden")
