"""The PR-comment step of .github/workflows/preview.yml, run by node against a stub GitHub API.

GitHub itself is not reachable here; the step's own JavaScript runs unchanged, with `github`,
`context` and `core` replaced by recording stubs, on the driver's real markdown output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from automation.stack.report_markdown import render_preview

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "preview.yml"

HARNESS = """
const fs = require('fs');
const state = JSON.parse(fs.readFileSync('state.json', 'utf8'));
const calls = [];
let summary = '';
const refuse = () => { if (state.deny) throw Object.assign(new Error('no'), {status: 403}); };
const github = {
  paginate: async () => state.existing,
  rest: { issues: {
    listComments: 'listComments',
    updateComment: async (a) => { refuse(); calls.push(['update', a.comment_id, a.body]); },
    createComment: async (a) => { refuse(); calls.push(['create', null, a.body]); },
  } },
};
const context = { repo: {owner: 'sprocket', repo: 'infra'}, issue: {number: 7},
                  serverUrl: 'https://github.example', runId: 42 };
const core = { summary: {
  addRaw(t) { summary += t; return this; },
  addCodeBlock(t) { summary += '```\\n' + t + '\\n```\\n'; return this; },
  async write() {},
} };
(async () => {
  await (async () => { STEP })();
  fs.writeFileSync('out.json', JSON.stringify({calls, summary}));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _step_script() -> str:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["preview"]["steps"]
    [step] = [s for s in steps if s.get("uses", "").startswith("actions/github-script")]
    return str(step["with"]["script"])


def _run_step(tmp_path: Path, markdown: str, *, existing: tuple[dict[str, Any], ...] = (),
              deny: bool = False, fork: bool = False) -> dict[str, Any]:  # fmt: skip
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed here: the workflow step cannot be run")
    (tmp_path / "preview.md").write_text(markdown)
    (tmp_path / "state.json").write_text(json.dumps({"existing": list(existing), "deny": deny}))
    (tmp_path / "step.js").write_text(HARNESS.replace("STEP", _step_script()))
    env = {"FORK": "true" if fork else "false", "PATH": "/usr/bin:/bin"}
    subprocess.run([node, "step.js"], cwd=tmp_path, env=env, check=True, timeout=60)
    out: dict[str, Any] = json.loads((tmp_path / "out.json").read_text())
    return out


def _markdown() -> str:
    stacks = [
        {"stack": "prod-layer_1", "changes": {}, "steps": [], "gate": {"allowed": True}},
        {
            "stack": "prod-platform",
            "changes": {"update": 1},
            "steps": [{"urn": "urn:x::web", "type": "t", "op": "update", "diffs": ["image"]}],
            "gate": {"allowed": True, "blocked": []},
        },
    ]
    return render_preview({"stacks": stacks}, project="sprocket-infra")


def test_first_run_creates_one_comment_per_stack(tmp_path: Path) -> None:
    out = _run_step(tmp_path, _markdown())
    kinds = [call[0] for call in out["calls"]]
    assert kinds == ["create", "create"]
    assert out["calls"][0][2].startswith("<!-- sprocket-preview:sprocket-infra/prod-layer_1 -->")
    assert out["calls"][1][2].startswith("<!-- sprocket-preview:sprocket-infra/prod-platform -->")
    assert (
        "[Workflow run](https://github.example/sprocket/infra/actions/runs/42)"
        in out["calls"][1][2]
    )


def test_later_runs_edit_the_comment_with_the_same_marker(tmp_path: Path) -> None:
    existing = [
        {"id": 11, "body": "<!-- sprocket-preview:sprocket-infra/prod-platform -->\nold"},
        {"id": 12, "body": "a reviewer's comment"},
        # a stack whose name is a prefix of another must not be taken for it
        {"id": 13, "body": "<!-- sprocket-preview:sprocket-infra/prod-layer_10 -->\nother"},
    ]
    out = _run_step(tmp_path, _markdown(), existing=tuple(existing))
    assert [(c[0], c[1]) for c in out["calls"]] == [("create", None), ("update", 11)]


def test_forks_and_denied_tokens_get_the_job_summary(tmp_path: Path) -> None:
    fork = _run_step(tmp_path, _markdown(), fork=True)
    assert fork["calls"] == []
    assert "Pull request from a fork" in fork["summary"]
    assert "<!-- sprocket-preview:sprocket-infra/prod-platform -->" in fork["summary"]

    denied = _run_step(tmp_path, _markdown(), deny=True)
    assert "Commenting is not permitted here (403)" in denied["summary"]


def test_workflow_runs_the_driver_as_documented() -> None:
    text = WORKFLOW.read_text()
    assert "python -m automation --env prod --json --yes preview all" in text
    assert "preview all --format markdown" in text
    assert "name: preview-json" in text  # the artifact the comment's footer points to


ZIZMOR = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "zizmor"


def test_the_preview_job_gets_only_read_access_and_waits_for_approval() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["preview"]
    assert workflow["permissions"] == {}  # nothing by default; the job says what it needs
    assert job["environment"] == "preview"  # required reviewers approve each run (README)
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    [checkout] = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["persist-credentials"] is False
    for step in job["steps"]:
        if "uses" in step:
            ref = step["uses"].split("@", 1)[1]
            assert len(ref) == 40 and int(ref, 16) >= 0, step["uses"]  # a commit, not a tag
    text = WORKFLOW.read_text()
    assert "SWARM_SSH_KEY" not in text and ".ssh" not in text  # no key to the manager at all
    assert job["env"]["DIGITALOCEAN_TOKEN"] == "${{ secrets.DIGITALOCEAN_READ_TOKEN }}"
    assert job["env"]["DOCKER_HOST"] == "${{ secrets.SWARM_DOCKER_PROXY }}"


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    """The same offline run as .ci/run (through `make lint`); zizmor is a dev dependency."""
    if not ZIZMOR.exists():
        pytest.fail("zizmor is not installed: run `make setup-dev` (it is in the dev extras)")
    run = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", str(WORKFLOW.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
