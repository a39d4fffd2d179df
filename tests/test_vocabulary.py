"""Sources, departments and categories come from the specs and the policy, never from a list in code."""

from __future__ import annotations

import shutil

import pytest

from samlet_overblik.core import vocabulary
from samlet_overblik.sources.specs import departments, source_names
from samlet_overblik.consent.policy import PolicyError, load_policy
from samlet_overblik.core.paths import data_dir
from samlet_overblik.sources.specs import SpecError

SCHOOL_SPEC = """name: skole
department: skole
description: The school administration (a department of its own).
default_file: skole.sqlite
tables:
  elev:
    primary_key: [elev_id]
    update_stamp: null
    columns:
      elev_id: INTEGER
      cpr: VARCHAR(10)
      foranstaltning: VARCHAR(40)
codes:
  foranstaltning:
    specialundervisning: {category: %s}
"""


@pytest.fixture
def pipelines(tmp_path, monkeypatch):
    folder = tmp_path / "pipelines"
    shutil.copytree(data_dir("pipelines"), folder)
    monkeypatch.setenv("SAMLET_PIPELINES_DIR", str(folder))
    return folder


def test_the_shipped_vocabulary():
    assert departments() == ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre")
    assert set(source_names()) == {"boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre",
                                         "samtykke", "cpr"}
    assert vocabulary.categories() == ("indsatser", "ydelser", "helbred", "misbrug", "kontakt")


def test_a_source_of_a_new_department_is_one_yaml(pipelines):
    (pipelines / "skole.yaml").write_text(SCHOOL_SPEC % "indsatser", encoding="utf-8")
    assert "skole" in source_names()
    # Not in the policy's list (yet): after the departments it orders.
    assert departments() == ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre", "skole")
    # The policy may now name it in a rule; a department no source owns is still an error naming the line.
    policy = (pipelines / "policy.yaml").read_text(encoding="utf-8")
    (pipelines / "policy.yaml").write_text(
        policy.replace("departments: [boern_familie,", "departments: [skole, boern_familie,"), encoding="utf-8")
    assert departments()[0] == "skole"
    assert load_policy().version
    (pipelines / "policy.yaml").write_text(
        policy.replace("departments: [boern_familie,", "departments: [kultur, boern_familie,"), encoding="utf-8")
    with pytest.raises(PolicyError, match="kultur"):
        load_policy()


def test_a_category_is_one_line_of_the_policy(pipelines):
    (pipelines / "skole.yaml").write_text(SCHOOL_SPEC % "undervisning", encoding="utf-8")
    with pytest.raises(SpecError, match="category must be one of"):
        source_names()
    policy = (pipelines / "policy.yaml").read_text(encoding="utf-8")
    (pipelines / "policy.yaml").write_text(
        policy.replace("categories: [indsatser,", "categories: [undervisning, indsatser,"), encoding="utf-8")
    assert "undervisning" in vocabulary.categories()
    assert "skole" in source_names()


@pytest.mark.parametrize("old, new, words", [
    ("freshness_hours:\n", "freshness_hour:\n", "unknown section(s) freshness_hour"),
    ("  cpr: 168\n", "  cprr: 168\n", "unknown source(s) cprr"),
    ("  cpr: 168\n", "  cpr: -1\n", "freshness_hours.cpr must be at least"),
    ("  max_retries: 3\n", "  max_retries: true\n", "retries.max_retries must be an integer"),
    ("  delay_seconds: 2\n", "  delay_second: 2\n", "unknown key(s) delay_second in retries"),
    ("  interval_seconds: 5\n", "  interval_seconds: 0\n", "consent_sensor.interval_seconds must be at least"),
    ("  timezone: Europe/Copenhagen\n", "  tz: Europe/Copenhagen\n", "unknown key(s) tz in nightly"),
])
def test_every_key_of_job_yaml_is_read_or_refused(pipelines, old, new, words):
    """A key of job.yaml that nothing reads is a one-line error naming it, never a setting without effect."""
    from samlet_overblik.sources.specs import load_job_settings

    job = (pipelines / "job.yaml").read_text(encoding="utf-8")
    assert old in job
    (pipelines / "job.yaml").write_text(job.replace(old, new), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_job_settings()
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_new_source_may_have_a_freshness_limit(pipelines):
    from samlet_overblik.sources.specs import load_job_settings

    (pipelines / "skole.yaml").write_text(SCHOOL_SPEC % "indsatser", encoding="utf-8")
    job = (pipelines / "job.yaml").read_text(encoding="utf-8")
    (pipelines / "job.yaml").write_text(job.replace("  cpr: 168\n", "  cpr: 168\n  skole: 24\n"), encoding="utf-8")
    assert load_job_settings()["freshness_hours"]["skole"] == 24
