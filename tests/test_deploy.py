"""The production instance files in deploy/ (issue 14): they parse and resolve against Dagster's own schemas, the
Kubernetes run launcher is built from its configuration (no cluster runs here: only the Kubernetes client's
config source is swapped for a local file), and the PostgreSQL storage serves a real run on this machine's server."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
IMAGE = "registry.kommune.example/samlet-overblik:1.0"
# A kubeconfig naming a cluster that does not exist: loading it only reads the file.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@pytest.fixture
def production_env(pg_url, monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    monkeypatch.setenv("SAMLET_JOB_IMAGE", IMAGE)
    return pg_url


@pytest.mark.parametrize("folder", ["", "k8s"])
def test_the_instance_files_validate_against_dagsters_schema(folder, production_env):
    from dagster._core.instance.config import dagster_instance_config

    config, custom_class = dagster_instance_config(str(DEPLOY / folder))
    assert custom_class is None
    assert "postgres" in config["storage"]
    queue = config["run_coordinator"]["config"]
    # Never two runs of one municipality at once, whatever the global limit.
    assert queue["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


def test_the_kubernetes_run_launcher_is_built_from_its_configuration(production_env, tmp_path):
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes import class_from_code_pointer

    config, _ = dagster_instance_config(str(DEPLOY / "k8s"))
    launcher = config["run_launcher"]
    cls = class_from_code_pointer(launcher["module"], launcher["class"])
    resolved = process_config(cls.config_type(), launcher["config"])
    assert resolved.success, [e.message for e in resolved.errors]
    value = dict(resolved.value)
    assert value["job_image"] == IMAGE  # from the environment, never written in the file
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    value.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    built = cls(**value)
    assert built.job_namespace == "samlet-overblik" and built.job_image == IMAGE
    assert built.dagster_home == "/opt/dagster/dagster_home"
    assert "samlet-tenants" in built.env_secrets  # each municipality's secrets reach its runs' pods


def test_the_postgresql_instance_holds_a_real_run(production_env, tmp_path):
    """The k8s instance file with the default launcher in place of Kubernetes: the queue and the storage are the
    file's own, on this machine's PostgreSQL."""
    from dagster._core.run_coordinator import QueuedRunCoordinator

    doc = yaml.safe_load((DEPLOY / "k8s" / "dagster.yaml").read_text(encoding="utf-8"))
    doc.pop("run_launcher")
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")

    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 16
        result = dg.materialize([probe], instance=instance)
        assert result.success
        runs = instance.get_runs()
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        assert instance.get_latest_materialization_event(dg.AssetKey("probe")) is not None
