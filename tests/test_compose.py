"""docker-compose.yml checked against the code, without a Docker engine.

Every service command must be a real CLI command, every MONITOR_* variable a known
setting, every mounted file present, and the topics created by topic-init the ones the
settings name.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
MONITOR_SERVICES = {n: s for n, s in SERVICES.items() if s.get("image", "").startswith("monitor:")}


def known_env_vars(model: Any = Settings, prefix: str = "MONITOR_") -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        if name == "kafka_bootstrap_shorthand":
            names.add("MONITOR_KAFKA_BOOTSTRAP")
            continue
        ann = field.annotation
        key = f"{prefix}{name.upper()}"
        if isinstance(ann, type) and hasattr(ann, "model_fields"):
            names |= known_env_vars(ann, key + "__")
        else:
            names |= {key, key + "_FILE"}
    return names


def test_monitor_services_exist() -> None:
    assert {"worker", "scraper", "dispatcher", "receiver"} <= set(MONITOR_SERVICES)


@pytest.mark.parametrize("name", sorted(MONITOR_SERVICES))
def test_service_command_is_a_real_cli_command(name: str) -> None:
    command = MONITOR_SERVICES[name]["command"]
    out = subprocess.run([sys.executable, "-m", "monitor", command[0], "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    flags = {a.split("=")[0] for a in command[1:] if a.startswith("--")}
    for flag in flags:
        assert flag in out.stdout, f"{name}: `monitor {command[0]}` has no {flag}"


@pytest.mark.parametrize("name", sorted(MONITOR_SERVICES))
def test_every_env_var_is_a_known_setting(name: str) -> None:
    known = known_env_vars()
    env = MONITOR_SERVICES[name].get("environment", {})
    unknown = sorted(k for k in env if k.startswith("MONITOR_") and k not in known)
    assert not unknown, f"{name}: unknown settings {unknown}"
    # and the values validate
    values = {k: str(v) for k, v in env.items() if k.startswith("MONITOR_")}
    with pytest.MonkeyPatch.context() as mp:
        for k in list(__import__("os").environ):
            if k.startswith("MONITOR_"):
                mp.delenv(k)
        for k, v in values.items():
            mp.setenv(k, v)
        settings = Settings()
    assert settings.backend == "kafka"


@pytest.mark.parametrize("name", sorted(MONITOR_SERVICES))
def test_mounted_config_files_exist(name: str) -> None:
    service = MONITOR_SERVICES[name]
    mounts = {}
    for volume in service.get("volumes", []):
        src, dst = volume.split(":")[:2]
        if src.startswith("./"):
            mounts[dst] = ROOT / src
            assert (ROOT / src).exists(), f"{name}: {src} does not exist"
    for arg in service["command"]:
        for dst, src in mounts.items():
            if isinstance(arg, str) and arg.startswith(dst + "/"):
                assert (src / arg[len(dst) + 1 :]).is_file(), f"{name}: {arg} is not in {src}"


def test_topic_init_creates_the_topics_the_settings_name() -> None:
    script = "\n".join(SERVICES["topics-init"]["command"])
    created = set(re.findall(r"--topic (\S+)", script))
    env = MONITOR_SERVICES["worker"]["environment"]
    wanted = {env["MONITOR_TOPICS__STATEMENTS"], env["MONITOR_TOPICS__ALERTS"], env["MONITOR_TOPICS__DEAD_LETTER"]}
    assert wanted <= created
    assert f"{env['MONITOR_WORKER__APP_ID']}-stance-changelog" in created
    assert "cleanup.policy=compact" in script
    assert re.search(r"--topic statements .*retention.ms=-1", script)
    assert re.search(r"--topic alerts .*retention.ms=-1", script)


def test_ops_conventions() -> None:
    kafka = SERVICES["kafka"]
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", kafka["image"]), "pin a 4.x apache/kafka tag"
    assert "healthcheck" in kafka and kafka["volumes"]
    for name, service in MONITOR_SERVICES.items():
        assert service.get("restart") == "unless-stopped", name
        assert service["deploy"]["resources"]["limits"], name
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"whsec_[A-Za-z0-9+/=]{8,}", text), "no secrets in the compose file"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "USER monitor" in dockerfile and "HEALTHCHECK" in dockerfile
    assert dockerfile.count("FROM ") >= 2, "multi-stage build"
    assert re.search(r"FROM python:3\.11\.\d+-slim", dockerfile)
