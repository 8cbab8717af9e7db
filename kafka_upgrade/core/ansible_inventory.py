"""An Ansible YAML inventory read the way Ansible reads it, keeping the line of every value.

1. Groups sit at the top level or under ``children`` of another group (``all``
   usually), at any depth; a group holds ``hosts``, ``vars`` and ``children``.
2. A group's hosts are its own, then its children's, in the order written.
3. A host's variables merge as Ansible merges them: ``all`` first, then the
   host's groups from the outermost to the innermost (by name within one depth),
   then the host's own; the last one set wins.

Anything else in the layout is refused with the line it is on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from kafka_upgrade.core.errors import BadInput

GROUP_KEYS = ("hosts", "vars", "children")


class AnsibleImportError(BadInput):
    """A cp-ansible inventory cannot be imported; the message names its line and the fix."""


def problem(source: str, line: int, what: str, todo: str) -> AnsibleImportError:
    """``hosts.yml line 12: <what> — <what to do>``."""
    return AnsibleImportError(f"{source} line {line}: {what} — {todo}")


@dataclass(frozen=True)
class Var:
    value: Any
    line: int


@dataclass(frozen=True)
class Host:
    name: str
    line: int  # where the host is first listed
    vars: dict[str, Var]

    def has(self, name: str) -> bool:
        return name in self.vars

    def line_of(self, name: str) -> int:
        return self.vars[name].line if name in self.vars else self.line


@dataclass(frozen=True)
class AnsibleInventory:
    source: str  # the file's name, for messages
    groups: dict[str, tuple[Host, ...]]  # every group's hosts, own and through children
    lines: dict[str, int]  # where each group is first written

    def hosts(self, group: str) -> tuple[Host, ...]:
        return self.groups.get(group, ())


class _Map(dict):
    """A YAML mapping that knows its line and the line of each key."""

    line: int
    lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


@dataclass
class _Group:
    name: str
    line: int = 1
    depth: int = 0
    hosts: list[tuple[str, int, dict[str, Var]]] = field(default_factory=list)
    vars: dict[str, Var] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    parents: set[str] = field(default_factory=set)


def read_inventory(text: str, source: str) -> AnsibleInventory:
    """The inventory in ``text`` (the content of the file named ``source``)."""
    top = _load(text, source)
    groups: dict[str, _Group] = {"all": _Group("all")}
    for name, body in top.items():
        _walk(str(name), body, top.lines[name], "all", groups, source)
    _set_depths(groups)
    members = {name: tuple(_members(name, groups)) for name in groups}
    resolved = {
        name: tuple(_host(host, line, groups) for host, line in hosts)
        for name, hosts in members.items()
    }
    lines = {name: group.line for name, group in groups.items()}
    return AnsibleInventory(source=source, groups=resolved, lines=lines)


def _load(text: str, source: str) -> _Map:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise problem(source, line, f"not valid YAML ({exc.problem})", "fix the file") from None
    except yaml.YAMLError as exc:
        raise problem(source, 1, f"not valid YAML ({exc})", "fix the file") from None
    if not isinstance(data, _Map):
        raise problem(
            source, 1, "no groups at the top level", "an Ansible YAML inventory maps group names"
        )
    return data


def _walk(
    name: str, body: Any, line: int, parent: str, groups: dict[str, _Group], source: str
) -> None:
    """Record group ``name`` (written at ``line`` under ``parent``) and its children."""
    if body is not None and not isinstance(body, _Map):
        raise problem(
            source, line, f"group '{name}' is not a mapping", "give it hosts:, vars: or children:"
        )
    body = body if body is not None else _Map()
    for key in body:
        if key not in GROUP_KEYS:
            raise problem(
                source,
                body.lines[key],
                f"'{key}' in group '{name}' is not hosts, vars or children",
                "move host variables under hosts: <host>: and group variables under vars:",
            )
    group = groups.setdefault(name, _Group(name, line))
    if name != parent:
        group.parents.add(parent)
    group.vars.update(_vars(body.get("vars"), body.lines.get("vars", line), name, source))
    group.hosts.extend(_hosts(body.get("hosts"), body.lines.get("hosts", line), name, source))
    children = body.get("children")
    if children is not None and not isinstance(children, _Map):
        raise problem(
            source,
            body.lines["children"],
            f"{name}.children is not a mapping",
            "list child groups as keys",
        )
    for child, child_body in (children or {}).items():
        group.children.append(str(child))
        _walk(str(child), child_body, children.lines[child], name, groups, source)


def _vars(raw: Any, line: int, owner: str, source: str) -> dict[str, Var]:
    if raw is None:
        return {}
    if not isinstance(raw, _Map):
        raise problem(
            source,
            line,
            f"the variables of '{owner}' are not a mapping",
            "write them as name: value",
        )
    return {str(k): Var(v, raw.lines[k]) for k, v in raw.items()}


def _hosts(
    raw: Any, line: int, group: str, source: str
) -> Iterator[tuple[str, int, dict[str, Var]]]:
    if raw is None:
        return
    if not isinstance(raw, _Map):
        raise problem(
            source,
            line,
            f"{group}.hosts is not a mapping",
            "list each host as a key (host: or host: {vars})",
        )
    for host, host_vars in raw.items():
        yield str(host), raw.lines[host], _vars(host_vars, raw.lines[host], str(host), source)


def _set_depths(groups: dict[str, _Group]) -> None:
    def depth(name: str, seen: frozenset[str]) -> int:
        parents = groups[name].parents - seen
        return 0 if not parents else 1 + max(depth(p, seen | {name}) for p in parents)

    for group in groups.values():
        group.depth = depth(group.name, frozenset())


def _members(
    name: str, groups: dict[str, _Group], seen: frozenset[str] = frozenset()
) -> list[tuple[str, int]]:
    """(host, line) of a group: its own first, then its children's; each host once."""
    found: dict[str, int] = {}
    for host, line, _ in groups[name].hosts:
        found.setdefault(host, line)
    for child in groups[name].children:
        if child not in seen:
            for host, line in _members(child, groups, seen | {name}):
                found.setdefault(host, line)
    return list(found.items())


def _host(name: str, line: int, groups: dict[str, _Group]) -> Host:
    """``name`` with its variables merged as Ansible merges them."""
    direct = [g for g in groups.values() if any(h == name for h, _, _ in g.hosts)]
    member_of = {"all"}
    todo = [g.name for g in direct]
    while todo:
        current = todo.pop()
        if current not in member_of:
            member_of.add(current)
            todo.extend(groups[current].parents)
    merged: dict[str, Var] = {}
    for group in sorted((groups[g] for g in member_of), key=lambda g: (g.depth, g.name)):
        merged.update(group.vars)
    for group in direct:
        for host, _, host_vars in group.hosts:
            if host == name:
                merged.update(host_vars)
    return Host(name=name, line=line, vars=merged)
