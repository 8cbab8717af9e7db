"""``kafka-upgrade stage``: put a Kafka version on every node, verified, before an upgrade.

1. The tarball: ``--tarball``, checked, or the one built once from the dist cache.
2. Every node at once (at most 8): check what is there (``core.staging``).
3. ``plan_stage`` decides per node: skip, unpack, upload and unpack, or blocked.
4. Every node at once: upload over SFTP (progress per node on stderr), check the upload's
   sha512 on the node, unpack under a temporary name and rename, verify.

A node that fails does not stop the others; a re-run resumes (verified nodes are skipped,
a complete upload is not sent again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from kafka_upgrade.app.cli_options import InventoryOption
from kafka_upgrade.app.cli_output import console
from kafka_upgrade.app.cli_output import fail as _fail
from kafka_upgrade.app.cli_output import refuse as _refuse
from kafka_upgrade.core.errors import StepFailed

if TYPE_CHECKING:
    from kafka_upgrade.adapters.remote import FabricRemote
    from kafka_upgrade.adapters.stage_source import Tarball
    from kafka_upgrade.core.inventory import Inventory, Node
    from kafka_upgrade.core.staging import StageCheck, StageStep

MAX_PARALLEL = 8
T = TypeVar("T")
In = TypeVar("In")


@dataclass(frozen=True)
class NodeOutcome:
    node: int
    host: str
    ok: bool
    action: str
    message: str
    uploaded_bytes: int = 0
    seconds: float = 0.0


def stage(
    inventory: InventoryOption,
    version: Annotated[str, typer.Option("--version", help="Kafka version to stage (X.Y.Z).")],
    tarball: Annotated[
        Path | None,  # noqa: UP007
        typer.Option(
            help="The kafka_2.13-VERSION.tgz to upload (default: built once from the local "
            "dist cache)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the per-node results as JSON on stdout.")
    ] = False,
) -> None:
    """Put Kafka VERSION on every node (install_dir/kafka_2.13-VERSION), verified; resumable."""
    from kafka_upgrade.adapters.remote import FabricRemote
    from kafka_upgrade.core.inventory import InventoryError, load_inventory
    from kafka_upgrade.sandbox import dist

    try:
        dist.validate_version(version)
        inv = load_inventory(inventory)
    except (dist.DistError, InventoryError) as exc:
        _refuse(str(exc))
    source = _tarball(version, tarball)
    nodes = all_nodes(inv)
    with FabricRemote(inv) as remote, _progress() as progress:
        outcomes = stage_nodes(remote, nodes, version, source, progress)
    _report(outcomes, as_json)


def all_nodes(inv: Inventory) -> list[Node]:
    """The nodes and the migration's controllers: each runs the new version in the end."""
    return [*inv.nodes, *(inv.migration.controllers if inv.migration else [])]


def _tarball(version: str, path: Path | None) -> Tarball:
    from kafka_upgrade.adapters.stage_source import TarballRefused, cached_tarball, check_tarball
    from kafka_upgrade.sandbox import dist

    try:
        if path is not None:
            return check_tarball(path, version)
        return cached_tarball(version, log=lambda line: console.print(escape(line)))
    except TarballRefused as exc:
        _refuse(str(exc))
    except dist.DistError as exc:
        _fail(str(exc))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    )


def stage_nodes(
    remote: FabricRemote, nodes: Sequence[Node], version: str, source: Tarball, progress: Progress
) -> list[NodeOutcome]:
    """Check every node, plan, act; one outcome per node, in the inventory's order."""
    from kafka_upgrade.core.staging import plan_stage

    tasks = {n.id: progress.add_task(f"node {n.id} ({n.host}) checking", total=None) for n in nodes}
    checks = _each(nodes, lambda n: _check(remote, n, version, source.sha512))
    failed = {i: c for i, c in checks.items() if isinstance(c, NodeOutcome)}
    for i in failed:
        progress.update(tasks[i], description=f"node {i} failed", total=0)
    ok = {i: c for i, c in checks.items() if not isinstance(c, NodeOutcome)}
    steps = plan_stage([n for n in nodes if n.id in ok], ok, version)
    done = _each(steps, lambda s: _act(remote, s, version, source, progress, tasks[s.node.id]))
    found = {**failed, **{s.node.id: done[s.node.id] for s in steps}}
    return [found[n.id] for n in nodes]


def _each(items: Sequence[In], work: Callable[[In], T]) -> dict[int, T | NodeOutcome]:
    """``work`` on every item at once (at most MAX_PARALLEL), keyed by node id; a node's
    remote error becomes its failed outcome."""

    def guarded(item: In) -> T | NodeOutcome:
        node = getattr(item, "node", item)
        try:
            return work(item)
        except _NODE_ERRORS() as exc:
            return NodeOutcome(node.id, node.host, False, "failed", str(exc))

    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(items)))) as pool:
        results = list(pool.map(guarded, items))
    return {getattr(i, "node", i).id: r for i, r in zip(items, results, strict=True)}


def _NODE_ERRORS() -> tuple[type[Exception], ...]:  # noqa: N802 - reads as a constant
    from kafka_upgrade.adapters.remote import RemoteError, UploadError

    return (*RemoteError, UploadError, StepFailed)


def _run(remote: FabricRemote, node: Node, command: str, what: str, timeout: float) -> str:
    result = remote.run(node, command, timeout=timeout)
    if not result.ok:
        tail = " | ".join((result.stderr.strip() or result.stdout.strip()).splitlines()[-3:])
        raise StepFailed(f"node {node.id} ({node.host}): {what} failed: {tail or 'no output'}")
    return result.stdout


def _check(remote: FabricRemote, node: Node, version: str, sha512: str) -> StageCheck:
    from kafka_upgrade.core.staging import parse_check, stage_check_command

    out = _run(remote, node, stage_check_command(node, version, sha512), "the check", 300)
    return parse_check(out)


def _act(
    remote: FabricRemote,
    step: StageStep,
    version: str,
    source: Tarball,
    progress: Progress,
    task: TaskID,
) -> NodeOutcome:
    from kafka_upgrade.core.staging import Action, dist_name, upload_path

    node, name = step.node, dist_name(version)
    where = f"node {node.id} ({node.host})"
    if step.action is Action.BLOCKED:
        progress.update(task, description=f"{where} blocked", total=0)
        return NodeOutcome(node.id, node.host, False, step.action.value, step.reason)
    sent, seconds = 0, 0.0
    if step.action is Action.UPLOAD_AND_UNPACK:
        sent, seconds = _upload(remote, node, version, source, progress, task)
    if step.action is not Action.SKIP:
        progress.update(task, description=f"{where} unpacking")
        _unpack(remote, node, version, upload_path(node, version), source.sha512)
    _verify(remote, node, version, source.sha512)
    progress.update(task, description=f"{where} done", total=max(sent, 1), completed=max(sent, 1))
    if step.action is Action.SKIP:
        message = f"{where}: already staged, verified"
    elif sent:
        message = f"{where}: staged {name} (uploaded {_mb(sent)} in {seconds:.1f} s)"
    else:
        message = f"{where}: staged {name} (the upload was already on the node)"
    return NodeOutcome(node.id, node.host, True, step.action.value, message, sent, seconds)


def _upload(
    remote: FabricRemote,
    node: Node,
    version: str,
    source: Tarball,
    progress: Progress,
    task: TaskID,
) -> tuple[int, float]:
    """Send the tarball, then check its sha512 on the node: (bytes, seconds)."""
    from kafka_upgrade.core.staging import (
        prepare_upload_command,
        upload_path,
        upload_problem,
        upload_sum_command,
    )

    _run(remote, node, prepare_upload_command(node), "making the upload directory", 60)
    progress.update(task, description=f"node {node.id} ({node.host}) uploading", total=source.size)
    started = time.monotonic()
    remote.upload(
        node,
        source.path,
        upload_path(node, version),
        lambda sent, _total: progress.update(task, completed=sent),
    )
    seconds = time.monotonic() - started
    summed = _run(remote, node, upload_sum_command(node, version), "summing the upload", 300)
    problem = upload_problem(node, version, source.sha512, summed)
    if problem:
        raise StepFailed(problem)
    return source.size, seconds


def _unpack(remote: FabricRemote, node: Node, version: str, path: str, sha512: str) -> None:
    from kafka_upgrade.core.staging import unpack_command

    what = f"unpacking {path} into {node.install_dir} (nothing is left half-done; re-run)"
    _run(remote, node, unpack_command(node, version, path, sha512), what, 900)


def _verify(remote: FabricRemote, node: Node, version: str, sha512: str) -> None:
    from kafka_upgrade.core.staging import parse_verify, verify_command

    out = _run(remote, node, verify_command(node, version), "the verification", 120)
    problems = parse_verify(node, version, sha512, out)
    if problems:
        raise StepFailed("; ".join(problems))


def _mb(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.0f} MB"
    return f"{size / 1000:.0f} kB" if size >= 1000 else f"{size} bytes"


def _report(outcomes: Sequence[NodeOutcome], as_json: bool) -> None:
    for o in outcomes:
        style = "green" if o.ok else "red"
        console.print(f"[{style}]{escape(o.message)}[/]")
    if as_json:
        typer.echo(json.dumps([asdict(o) for o in outcomes], indent=2))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        names = ", ".join(f"node {o.node}" for o in failed)
        _fail(
            f"{len(failed)} of {len(outcomes)} nodes not staged ({names}); the others are "
            "done. Fix what is said above and run the same command again: it resumes "
            "(verified nodes are skipped, a complete upload is not sent again)"
        )
