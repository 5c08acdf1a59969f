"""JUnit XML for CI on a submission repository: one test case per rubric item.

CI systems (GitHub Actions, GitLab, Jenkins) show these as a test report; hidden
items appear as skipped without their details, pending and unverified items as
skipped with the reason."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from ..results import SubmissionResult
from .gradescope import item_output


def to_junit(result: SubmissionResult) -> str:
    suite = ET.Element("testsuite", name=f"{result.assignment} ({result.student})")
    failures = skipped = 0
    for item in result.items:
        case = ET.SubElement(suite, "testcase", classname=result.assignment, name=item.name)
        if item.hidden or item.status == "hidden":
            ET.SubElement(case, "skipped", message="hidden: graded after the deadline")
            skipped += 1
        elif item.grading in ("pending", "unverified") or item.status in ("pending", "skipped"):
            ET.SubElement(case, "skipped", message=item.message[:500])
            skipped += 1
        elif item.score < item.max_score:
            f = ET.SubElement(case, "failure", message=f"{item.score:g}/{item.max_score:g}: {item.message[:300]}")
            f.text = item_output(item)
            failures += 1
        else:
            ET.SubElement(case, "system-out").text = f"{item.score:g}/{item.max_score:g}"
    suite.set("tests", str(len(result.items)))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0" if result.graded else "1")
    if not result.graded:
        ET.SubElement(suite, "system-err").text = result.reason
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
