"""Unit tests of kafka_upgrade.sandbox.dist: no network, no real Maven, no Kafka.

The Maven route is exercised end to end with a fake ``mvn`` that copies
hand-made jars; the tarball route with ``file://`` URLs.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from kafka_upgrade.sandbox import dist

# Class names as found in the real jars (checked against Maven Central's
# artifacts for these versions).
COMMON = {
    "kafka.Kafka",
    "kafka.tools.StorageTool",
    "org.apache.kafka.tools.TopicCommand",
    "org.apache.kafka.tools.FeatureCommand",
    "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka.admin.ConfigCommand",
}
CLASSES_3_7 = COMMON | {
    "kafka.admin.FeatureCommand",  # Scala leftover next to the tools one
    "kafka.admin.BrokerApiVersionsCommand",
    "kafka.tools.ConsoleProducer",
    "kafka.tools.ConsoleConsumer",
    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
    "org.apache.zookeeper.ZooKeeperMain",
    "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka",
    "org.apache.log4j.PropertyConfigurator",
}
CLASSES_3_9 = (CLASSES_3_7 - {"kafka.tools.ConsoleConsumer"}) | {
    "org.apache.kafka.tools.consumer.ConsoleConsumer"
}
CLASSES_4_1 = COMMON | {
    "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "org.apache.kafka.tools.ConsoleProducer",
    "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "org.apache.logging.log4j.core.LoggerContext",
}

HAS_PROC = Path("/proc/self/cmdline").exists()


# --------------------------------------------------------------------------- versions


@pytest.mark.parametrize("version", ["3.7.2", "3.8.1", "3.9.1", "4.1.1", "10.0.0", "4.0.0"])
def test_valid_versions(version: str) -> None:
    assert dist.validate_version(version) == version
    assert dist.dist_dir_name(version) == f"kafka_2.13-{version}"


@pytest.mark.parametrize(
    "bad",
    ["", "3.9", "3.9.1.0", "3.9.1-rc1", " 3.9.1", "3.9.1\n", "v3.9.1", "03.9.1", "a.b.c", "../x"],
)
def test_invalid_versions_name_the_value(bad: str) -> None:
    with pytest.raises(dist.DistError) as err:
        dist.dist_dir_name(bad)
    assert repr(bad) in str(err.value)


def test_fetch_validates_before_touching_anything(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(dist.DistError, match="invalid Kafka version"):
        dist.fetch("3.9", cache=cache, log=lambda _m: None)
    assert not cache.exists()


def test_default_cache_env_override(tmp_path: Path) -> None:
    # A fresh interpreter: DEFAULT_CACHE is fixed at import time.
    code = "from kafka_upgrade.sandbox import dist; print(dist.DEFAULT_CACHE)"
    env = {**os.environ, "KAFKA_UPGRADE_DIST_CACHE": str(tmp_path / "c")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(tmp_path / "c")
    env.pop("KAFKA_UPGRADE_DIST_CACHE")
    env["HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(tmp_path / ".cache" / "kafka-upgrade" / "dist")


# --------------------------------------------------------------------------- pom


def _deps(pom: str) -> list[tuple[str, str, str]]:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.fromstring(pom)
    assert root.findtext("m:packaging", namespaces=ns) == "pom"
    return [
        (
            d.findtext("m:groupId", namespaces=ns),
            d.findtext("m:artifactId", namespaces=ns),
            d.findtext("m:version", namespaces=ns),
        )
        for d in root.findall("m:dependencies/m:dependency", ns)
    ]


def test_pom_3x_has_the_three_kafka_artifacts() -> None:
    assert _deps(dist.render_pom("3.9.1")) == [
        ("org.apache.kafka", "kafka_2.13", "3.9.1"),
        ("org.apache.kafka", "kafka-tools", "3.9.1"),
        ("org.apache.kafka", "kafka-storage", "3.9.1"),
    ]


def test_pom_4x_adds_the_slf4j_binding() -> None:
    deps = _deps(dist.render_pom("4.1.1"))
    assert ("org.apache.kafka", "kafka_2.13", "4.1.1") in deps
    assert ("org.apache.logging.log4j", "log4j-slf4j-impl", "2.24.3") in deps
    assert len(deps) == 4


def test_pom_pins_the_dependency_plugin() -> None:
    pom = dist.render_pom("3.7.2")
    assert "<artifactId>maven-dependency-plugin</artifactId>" in pom
    assert f"<version>{dist.DEPENDENCY_PLUGIN_VERSION}</version>" in pom


def test_pom_rejects_bad_version() -> None:
    with pytest.raises(dist.DistError):
        dist.render_pom("3.9.1</version><x>")


# --------------------------------------------------------------------------- class selection


def test_layout_3_7() -> None:
    layout = dist.select_layout("3.7.2", CLASSES_3_7)
    assert not layout.log4j2
    assert layout.zookeeper
    assert layout.tools["kafka-storage.sh"] == "kafka.tools.StorageTool"
    assert layout.tools["kafka-topics.sh"] == "org.apache.kafka.tools.TopicCommand"
    # Both exist in 3.7: the tools one is what upstream's script runs.
    assert layout.tools["kafka-features.sh"] == "org.apache.kafka.tools.FeatureCommand"
    assert layout.tools["kafka-console-consumer.sh"] == "kafka.tools.ConsoleConsumer"
    assert layout.tools["kafka-broker-api-versions.sh"] == "kafka.admin.BrokerApiVersionsCommand"
    assert (
        layout.tools["zookeeper-shell.sh"]
        == "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka"
    )


def test_layout_3_9_console_consumer_moved() -> None:
    layout = dist.select_layout("3.9.1", CLASSES_3_9)
    assert layout.tools["kafka-console-consumer.sh"] == (
        "org.apache.kafka.tools.consumer.ConsoleConsumer"
    )


def test_layout_4_1() -> None:
    layout = dist.select_layout("4.1.1", CLASSES_4_1)
    assert layout.log4j2
    assert not layout.zookeeper
    assert layout.tools["kafka-console-producer.sh"] == "org.apache.kafka.tools.ConsoleProducer"
    assert layout.tools["kafka-configs.sh"] == "kafka.admin.ConfigCommand"
    assert "zookeeper-shell.sh" not in layout.tools


def test_layout_optional_tools_are_skipped_not_fatal() -> None:
    layout = dist.select_layout("4.1.1", CLASSES_4_1)
    assert "kafka-reassign-partitions.sh" not in layout.tools  # not in the sample set


def test_layout_4x_never_gets_zookeeper_scripts() -> None:
    classes = CLASSES_4_1 | {dist.ZOOKEEPER_CLASS, "org.apache.zookeeper.ZooKeeperMain"}
    layout = dist.select_layout("4.0.0", classes)
    assert not layout.zookeeper
    assert "zookeeper-server-start.sh" not in dist.render_bin(layout)
    assert "zookeeper-shell.sh" not in dist.render_bin(layout)


def test_layout_prefers_log4j2_when_both_backends_present() -> None:
    layout = dist.select_layout(
        "3.9.1", CLASSES_3_9 | {"org.apache.logging.log4j.core.LoggerContext"}
    )
    assert layout.log4j2


@pytest.mark.parametrize(
    ("version", "classes", "removed", "expected"),
    [
        ("3.9.1", CLASSES_3_9, "kafka.Kafka", "kafka-server-start.sh"),
        ("3.9.1", CLASSES_3_9, "kafka.tools.StorageTool", "kafka-storage.sh"),
        ("4.1.1", CLASSES_4_1, "org.apache.kafka.tools.TopicCommand", "kafka-topics.sh"),
        ("3.7.2", CLASSES_3_7, dist.ZOOKEEPER_CLASS, "zookeeper-server-start.sh"),
        ("4.1.1", CLASSES_4_1, "org.apache.logging.log4j.core.LoggerContext", "logging backend"),
    ],
)
def test_layout_missing_required(
    version: str, classes: set[str], removed: str, expected: str
) -> None:
    with pytest.raises(dist.DistError) as err:
        dist.select_layout(version, classes - {removed})
    assert expected in str(err.value)
    assert version in str(err.value)


def test_layout_features_falls_back_to_scala_class() -> None:
    classes = (CLASSES_3_7 - {"org.apache.kafka.tools.FeatureCommand"}) | {
        "kafka.admin.FeatureCommand"
    }
    assert dist.select_layout("3.7.2", classes).tools["kafka-features.sh"] == (
        "kafka.admin.FeatureCommand"
    )


# --------------------------------------------------------------------------- scripts and configs


@pytest.mark.parametrize(("version", "classes"), [("3.7.2", CLASSES_3_7), ("4.1.1", CLASSES_4_1)])
def test_scripts_are_valid_bash(version: str, classes: set[str], tmp_path: Path) -> None:
    scripts = dist.render_bin(dist.select_layout(version, classes))
    for name, text in scripts.items():
        assert text.startswith("#!/usr/bin/env bash\n"), name
        path = tmp_path / name
        path.write_text(text)
        check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, f"{name}: {check.stderr}"


def test_bin_3x_vs_4x() -> None:
    b3 = dist.render_bin(dist.select_layout("3.7.2", CLASSES_3_7))
    b4 = dist.render_bin(dist.select_layout("4.1.1", CLASSES_4_1))
    for required in (
        "kafka-run-class.sh",
        "kafka-server-start.sh",
        "kafka-server-stop.sh",
        "kafka-storage.sh",
        "kafka-topics.sh",
        "kafka-features.sh",
        "kafka-metadata-quorum.sh",
    ):
        assert required in b3
        assert required in b4
    assert "zookeeper-server-start.sh" in b3
    assert "zookeeper-server-stop.sh" in b3
    assert "zookeeper-server-start.sh" not in b4

    assert (
        "-Dlog4j.configuration=file:$base/config/tools-log4j.properties" in b3["kafka-run-class.sh"]
    )
    assert (
        "-Dlog4j2.configurationFile=$base/config/tools-log4j2.properties"
        in b4["kafka-run-class.sh"]
    )
    assert "log4j2.properties" in b4["kafka-server-start.sh"]
    assert "config/log4j.properties" in b3["kafka-server-start.sh"]
    assert "zookeeper-log4j.properties" in b3["zookeeper-server-start.sh"]


def test_start_script_daemon_detaches() -> None:
    text = dist.render_bin(dist.select_layout("4.1.1", CLASSES_4_1))["kafka-server-start.sh"]
    assert "setsid nohup" in text
    assert '"$LOG_DIR/kafkaServer.out" 2>&1 < /dev/null &' in text
    assert "kafka.Kafka" in text
    zk = dist.render_bin(dist.select_layout("3.7.2", CLASSES_3_7))["zookeeper-server-start.sh"]
    assert '"$LOG_DIR/zookeeper.out"' in zk
    assert dist.ZOOKEEPER_CLASS in zk


def test_tool_scripts_exec_their_class() -> None:
    b = dist.render_bin(dist.select_layout("3.9.1", CLASSES_3_9))
    assert 'kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"' in b["kafka-topics.sh"]
    assert 'ZooKeeperMainWithTlsSupportForKafka -server "$@"' in b["zookeeper-shell.sh"]


def test_run_class_keeps_symlinked_base_and_classpath() -> None:
    text = dist.run_class_script(dist.select_layout("4.1.1", CLASSES_4_1))
    assert 'base=$(cd "$(dirname "$0")/.." && pwd)' in text
    assert "pwd -P" not in text
    assert '-cp "$base/libs/*"' in text
    assert '"-Dkafka.logs.dir=$LOG_DIR"' in text


def test_configs() -> None:
    c3 = dist.render_config(dist.select_layout("3.7.2", CLASSES_3_7))
    c4 = dist.render_config(dist.select_layout("4.1.1", CLASSES_4_1))
    assert set(c3) == {"log4j.properties", "tools-log4j.properties", "zookeeper-log4j.properties"}
    assert set(c4) == {"log4j2.properties", "tools-log4j2.properties"}
    assert "${kafka.logs.dir}/server.log" in c3["log4j.properties"]
    assert "${kafka.logs.dir}/zookeeper.log" in c3["zookeeper-log4j.properties"]
    assert "${sys:kafka.logs.dir}/server.log" in c4["log4j2.properties"]
    assert "[%d] %p %m (%c)%n" in c4["log4j2.properties"]
    assert "log4j.rootLogger=WARN, stderr" in c3["tools-log4j.properties"]
    assert "System.err" in c3["tools-log4j.properties"]
    assert "SYSTEM_ERR" in c4["tools-log4j2.properties"]
    assert "rootLogger.level = WARN" in c4["tools-log4j2.properties"]


def test_stop_script_text() -> None:
    text = dist.stop_script("kafka.Kafka", "kafka", "server.properties")
    assert 'grep -qxF -- "$target"' in text
    assert 'grep -qxF -- "$main_class"' in text
    assert "No kafka server to stop" in text
    assert "/proc/" in text
    # Does not wait, like upstream.
    assert "sleep" not in text


# --------------------------------------------------------------------------- stop script, live

needs_proc = pytest.mark.skipif(not HAS_PROC, reason="needs Linux /proc")


def _fake_java(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """A process whose argv is `.../java -c <sleep> ARGS...`, like a JVM's."""
    java = tmp_path / "fakejdk" / "java"
    if not java.exists():
        java.parent.mkdir(parents=True)
        java.symlink_to(os.path.realpath(sys.executable))
    proc = subprocess.Popen([str(java), "-c", "import time; time.sleep(60)", *args])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        if cmdline[0] == str(java).encode():
            break
        time.sleep(0.02)
    return proc


def _run_stop(tmp_path: Path, main_class: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "stop.sh"
    script.write_text(dist.stop_script(main_class, "kafka", "server.properties"))
    script.chmod(0o755)
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=30)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return True


@needs_proc
def test_stop_targets_only_the_exact_config(tmp_path: Path) -> None:
    # A made-up main class, so nothing real on this host can be hit.
    main = f"test.FakeKafka{uuid.uuid4().hex}"
    cfg = str(tmp_path / "n1" / "server.properties")
    target = _fake_java(tmp_path, main, cfg)
    longer = _fake_java(tmp_path, main, cfg + ".bak")
    other_class = _fake_java(tmp_path, "some.OtherMain", cfg)
    try:
        result = _run_stop(tmp_path, main, cfg)
        assert result.returncode == 0, result
        assert _exited(target)
        assert longer.poll() is None
        assert other_class.poll() is None

        again = _run_stop(tmp_path, main, cfg)
        assert again.returncode == 1
        assert "No kafka server to stop" in again.stdout
    finally:
        for p in (target, longer, other_class):
            p.kill()
            p.wait()


@needs_proc
def test_stop_without_argument_signals_all_of_that_class(tmp_path: Path) -> None:
    main = f"test.FakeKafka{uuid.uuid4().hex}"
    a = _fake_java(tmp_path, main, str(tmp_path / "a.properties"))
    b = _fake_java(tmp_path, main, str(tmp_path / "b.properties"))
    try:
        assert _run_stop(tmp_path, main).returncode == 0
        assert _exited(a)
        assert _exited(b)
        none_left = _run_stop(tmp_path, main)
        assert none_left.returncode == 1
        assert "No kafka server to stop" in none_left.stdout
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


# --------------------------------------------------------------------------- fetch (Maven route)


def _jar(path: Path, classes: set[str]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for c in classes:
            zf.writestr(c.replace(".", "/") + ".class", b"\xca\xfe\xba\xbe")
        zf.writestr("org/example/Outer$Inner.class", b"")


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a fake `mvn` on PATH that 'resolves' jars from $FAKE_JARS into -DoutputDirectory."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    mvn = bindir / "mvn"
    mvn.write_text(
        "#!/usr/bin/env bash\n"
        'echo "$@" >> "$FAKE_MVN_LOG"\n'
        'if [ -n "${FAKE_MVN_FAIL:-}" ]; then\n'
        '  printf "\\033[0m[ERROR] Could not find artifact org.apache.kafka:kafka_2.13:jar\\n"\n'
        "  exit 1\n"
        "fi\n"
        'for a in "$@"; do\n'
        "  case $a in -DoutputDirectory=*) out=${a#-DoutputDirectory=};; esac\n"
        "done\n"
        'mkdir -p "$out" && cp "$FAKE_JARS"/*.jar "$out"/\n'
    )
    mvn.chmod(0o755)
    jars = tmp_path / "jars"
    jars.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_JARS", str(jars))
    monkeypatch.setenv("FAKE_MVN_LOG", str(tmp_path / "mvn.log"))
    monkeypatch.delenv(dist.URL_ENV, raising=False)
    return jars


def test_fetch_with_maven_assembles_install(fake_mvn: Path, tmp_path: Path) -> None:
    _jar(fake_mvn / "kafka_2.13-3.9.1.jar", CLASSES_3_9)
    cache = tmp_path / "cache"
    logs: list[str] = []
    path = dist.fetch("3.9.1", cache=cache, log=logs.append)

    assert path == cache / "kafka_2.13-3.9.1"
    assert dist.is_complete(path)
    assert (path / "VERSION").read_text().strip() == "3.9.1"
    assert (path / "libs" / "kafka_2.13-3.9.1.jar").is_file()
    for script in ("kafka-server-start.sh", "kafka-server-stop.sh", "zookeeper-server-start.sh"):
        assert os.access(path / "bin" / script, os.X_OK)
    assert (path / "config" / "log4j.properties").is_file()
    # Nothing half-built left next to it.
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [path.name]
    mvn_args = (tmp_path / "mvn.log").read_text()
    assert "dependency:copy-dependencies" in mvn_args
    assert "-DincludeScope=runtime" in mvn_args
    assert any("ready" in m for m in logs)


def test_second_fetch_is_instant_and_skips_mvn(fake_mvn: Path, tmp_path: Path) -> None:
    _jar(fake_mvn / "k.jar", CLASSES_4_1)
    cache = tmp_path / "cache"
    first = dist.fetch("4.1.1", cache=cache, log=lambda _m: None)
    (tmp_path / "mvn.log").unlink()
    started = time.monotonic()
    assert dist.fetch("4.1.1", cache=cache, log=lambda _m: None) == first
    assert time.monotonic() - started < 0.5
    assert not (tmp_path / "mvn.log").exists()


def test_fetch_replaces_incomplete_dir(fake_mvn: Path, tmp_path: Path) -> None:
    _jar(fake_mvn / "k.jar", CLASSES_4_1)
    cache = tmp_path / "cache"
    half = cache / "kafka_2.13-4.1.1"
    (half / "libs").mkdir(parents=True)
    (half / "libs" / "truncated.jar").write_bytes(b"PK")
    stale_tmp = cache / ".kafka_2.13-4.1.1.tmp-dead"
    stale_tmp.mkdir()

    assert not dist.is_complete(half)
    path = dist.fetch("4.1.1", cache=cache, log=lambda _m: None)
    assert dist.is_complete(path)
    assert not (path / "libs" / "truncated.jar").exists()
    assert not stale_tmp.exists()


def test_mvn_failure_raises_with_output_and_leaves_nothing(
    fake_mvn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    cache = tmp_path / "cache"
    with pytest.raises(dist.DistError) as err:
        dist.fetch("3.9.1", cache=cache, log=lambda _m: None)
    msg = str(err.value)
    assert "Could not find artifact" in msg
    assert "\x1b" not in msg
    assert "3.9.1" in msg
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_unsupported_jars_raise_and_leave_nothing(fake_mvn: Path, tmp_path: Path) -> None:
    _jar(fake_mvn / "k.jar", {"kafka.Kafka"})
    cache = tmp_path / "cache"
    with pytest.raises(dist.DistError, match="kafka-topics.sh"):
        dist.fetch("3.9.1", cache=cache, log=lambda _m: None)
    assert not (cache / "kafka_2.13-3.9.1").exists()


def test_mvn_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dist.URL_ENV, raising=False)
    monkeypatch.setattr(dist.shutil, "which", lambda _name: None)
    with pytest.raises(dist.DistError, match="mvn not found on PATH"):
        dist.fetch("3.9.1", cache=tmp_path / "cache", log=lambda _m: None)


def test_is_complete(tmp_path: Path) -> None:
    assert not dist.is_complete(tmp_path / "missing")
    assert not dist.is_complete(tmp_path)
    (tmp_path / dist.MARKER).write_text("x")
    assert dist.is_complete(tmp_path)


# --------------------------------------------------------------------------- fetch (tarball route)


def _tarball(path: Path, version: str, extra: list[tarfile.TarInfo] | None = None) -> None:
    top = f"kafka_2.13-{version}"
    with tarfile.open(path, "w:gz") as tar:
        files = {
            f"{top}/bin/kafka-server-start.sh": b"#!/bin/bash\necho upstream start\n",
            f"{top}/bin/kafka-server-stop.sh": b"#!/bin/bash\necho upstream stop-all\n",
            f"{top}/bin/zookeeper-server-stop.sh": b"#!/bin/bash\necho upstream\n",
            f"{top}/libs/kafka_2.13-{version}.jar": b"PK",
            f"{top}/config/server.properties": b"node.id=1\n",
        }
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.size else None)


def test_fetch_from_tarball_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tarball(tmp_path / "kafka_2.13-3.9.1.tgz", "3.9.1")
    monkeypatch.setenv(dist.URL_ENV, f"file://{tmp_path}/kafka_2.13-{{version}}.tgz")
    cache = tmp_path / "cache"
    path = dist.fetch("3.9.1", cache=cache, log=lambda _m: None)
    assert path == cache / "kafka_2.13-3.9.1"
    assert dist.is_complete(path)
    assert (path / "VERSION").read_text().strip() == "3.9.1"
    assert (path / "config" / "server.properties").is_file()
    # Upstream's kill-everything stop scripts are replaced by the targeted ones.
    assert "grep -qxF" in (path / "bin" / "kafka-server-stop.sh").read_text()
    assert dist.ZOOKEEPER_CLASS in (path / "bin" / "zookeeper-server-stop.sh").read_text()
    assert "upstream start" in (path / "bin" / "kafka-server-start.sh").read_text()
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [path.name]


def test_tarball_download_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dist.URL_ENV, f"file://{tmp_path}/nope-{{version}}.tgz")
    with pytest.raises(dist.DistError, match="nope-3.9.1.tgz"):
        dist.fetch("3.9.1", cache=tmp_path / "cache", log=lambda _m: None)
    assert not (tmp_path / "cache" / "kafka_2.13-3.9.1").exists()


def test_tarball_url_needs_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(dist.URL_ENV, "https://example.invalid/kafka.tgz")
    with pytest.raises(dist.DistError, match="placeholder"):
        dist.fetch("3.9.1", cache=tmp_path / "cache", log=lambda _m: None)


def _member(name: str, *, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    "member",
    [
        _member("/etc/evil"),
        _member("kafka_2.13-3.9.1/../../evil"),
        _member("kafka_2.13-3.9.1/libs/x", kind=tarfile.SYMTYPE, link="/etc/passwd"),
        _member("kafka_2.13-3.9.1/x", kind=tarfile.SYMTYPE, link="../../outside"),
        _member("kafka_2.13-3.9.1/h", kind=tarfile.LNKTYPE, link="../outside"),
        _member("kafka_2.13-3.9.1/dev", kind=tarfile.CHRTYPE),
    ],
)
def test_unsafe_tar_members_rejected(member: tarfile.TarInfo) -> None:
    with pytest.raises(dist.DistError, match="tarball"):
        dist.check_member(member)


@pytest.mark.parametrize(
    "member",
    [
        _member("kafka_2.13-3.9.1/bin/x.sh"),
        _member("kafka_2.13-3.9.1/libs", kind=tarfile.DIRTYPE),
        _member("kafka_2.13-3.9.1/libs/a.jar", kind=tarfile.SYMTYPE, link="b.jar"),
        _member("kafka_2.13-3.9.1/libs/a.jar", kind=tarfile.SYMTYPE, link="../config/x"),
    ],
)
def test_safe_tar_members_accepted(member: tarfile.TarInfo) -> None:
    dist.check_member(member)


def test_unsafe_tarball_is_not_extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tarfile.TarInfo("kafka_2.13-3.9.1/../../escaped")
    evil.size = 1
    _tarball(tmp_path / "kafka_2.13-3.9.1.tgz", "3.9.1", extra=[evil])
    monkeypatch.setenv(dist.URL_ENV, f"file://{tmp_path}/kafka_2.13-{{version}}.tgz")
    with pytest.raises(dist.DistError, match="unsafe path"):
        dist.fetch("3.9.1", cache=tmp_path / "cache", log=lambda _m: None)
    assert not (tmp_path / "escaped").exists()
    assert not (tmp_path / "cache" / "kafka_2.13-3.9.1").exists()
