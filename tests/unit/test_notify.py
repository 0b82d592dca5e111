"""Notification settings, policy and signature (the delivery itself: tests/integration/
test_notify_webhook.py against a real receiver)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from automation.errors import BadInput
from automation.exit_codes import ExitCode
from automation.notify import sign
from automation.notify.policy import should_notify
from automation.settings import load_settings


def test_notify_is_configured_from_the_environment_and_the_secret_stays_hidden() -> None:
    settings = load_settings(
        {"SPROCKET_NOTIFY_URL": "https://hooks.example/x", "SPROCKET_NOTIFY_SECRET": "k3y-value"}
    )
    assert settings.notify.url == "https://hooks.example/x"
    assert "k3y-value" not in repr(settings)
    assert load_settings({}).notify.url is None  # unset: no notifications


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"SPROCKET_NOTIFY_URL": "hooks.example/x", "SPROCKET_NOTIFY_SECRET": "k"}, "http"),
        ({"SPROCKET_NOTIFY_URL": "https://hooks.example/x"}, "SPROCKET_NOTIFY_SECRET"),
    ],
)
def test_a_bad_notify_setting_names_the_key(environ: dict[str, str], says: str) -> None:
    with pytest.raises(BadInput, match=r"setting 'notify") as err:
        load_settings(environ)
    assert says in err.value.message


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"id":"op-1","verb":"drift"}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert sign(b"key", body) == f"sha256={expected}"
    assert sign(b"key", body + b" ") != sign(b"key", body)


@pytest.mark.parametrize(
    ("verb", "code", "sent"),
    [
        ("health", ExitCode.HEALTH_WARNING, True),
        ("health", ExitCode.OK, False),
        ("drift", ExitCode.DRIFT_DETECTED, True),
        ("backup", ExitCode.BACKUP_FAILED, True),
        ("backup verify", ExitCode.BACKUP_FAILED, True),
        ("rollout", ExitCode.ROLLED_BACK, True),
        ("rollout", ExitCode.ROLLBACK_FAILED, True),
        ("deploy", ExitCode.NOT_CONVERGED, True),
        ("deploy", ExitCode.ERROR, False),  # whoever ran the deploy saw it
        ("drift", ExitCode.LOCKED, False),  # the job runs again next time
        ("rollout", ExitCode.FROZEN, False),  # refused at once, to whoever ran it
        ("health", ExitCode.BAD_INPUT, False),
        ("preview", ExitCode.ERROR, False),
    ],
)
def test_which_results_are_sent(verb: str, code: ExitCode, sent: bool) -> None:
    assert should_notify(verb, code) is sent


def _scheduled_jobs() -> dict[str, str]:
    """Each schedule name of scripts/cron/job and the driver verb it runs ('' if not the driver)."""
    import re
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "scripts" / "cron" / "job").read_text()
    jobs = {}
    for name, command in re.findall(
        r"^\s+([a-z-]+)\) exec scripts/cron/run-job \S+ (.*?) ;;", script, re.M
    ):
        driver = re.match(r'"\$\{driver\[@\]\}" ([a-z][a-z-]*(?: [a-z][a-z-]*)?)', command)
        words = driver.group(1).split() if driver else []
        jobs[name] = " ".join(w for w in words if w not in {"all"})
    return jobs


def test_every_scheduled_job_and_its_driver_verb_notify_on_failure() -> None:
    jobs = _scheduled_jobs()
    assert {"backup-db", "backup-vault", "drill", "health"} <= set(jobs)
    for name, verb in jobs.items():
        assert should_notify(name, ExitCode.ERROR), f"cron job {name} failing is not sent"
        if verb:
            assert should_notify(verb, ExitCode.ERROR), f"verb {verb!r} (job {name}) is not sent"
