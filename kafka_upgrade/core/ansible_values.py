"""Reading a cp-ansible host's variables: plain values only, as the importer needs them.

A value the host does not set is the caller's default (cp-ansible's own); a Jinja
template is refused, since the importer does not run Ansible; a flag or a number
written as text is read as Ansible reads it, anything else refused with its line.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kafka_upgrade.core.ansible_inventory import Host, problem

LISTENERS = "kafka_broker_custom_listeners"


def value(host: Host, name: str, default: Any, source: str) -> Any:
    """The host's ``name``, ``default`` when unset; a Jinja template is refused."""
    if not host.has(name):
        return default
    found = host.vars[name].value
    if templated(found):
        raise problem(
            source,
            host.line_of(name),
            f"{name} of {host.name} is a Jinja template",
            "write the value itself: the importer does not run Ansible",
        )
    return found


def templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(templated(v) for v in value.values())
    if isinstance(value, list):
        return any(templated(v) for v in value)
    return False


def flag(host: Host, name: str, default: bool, source: str) -> bool:
    return as_flag(value(host, name, default, source), host, name, source)


def as_flag(value: Any, host: Host, name: str, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise problem(
        source, host.line_of(name), f"{name} of {host.name} is {value!r}", "write true or false"
    )


def as_number(value: Any, host: Host, source: str, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise problem(
        source, host.line_of(name), f"{name} of {host.name} is {value!r}", "write a number"
    )


def internal_listener(host: Host, source: str) -> dict[str, Any]:
    listeners = host.vars.get(LISTENERS)
    if listeners is None or not listeners.value:
        return {}
    internal = listeners.value.get("internal") if isinstance(listeners.value, dict) else []
    if internal is None:
        return {}
    if not isinstance(internal, dict) or templated(internal):
        raise problem(
            source,
            listeners.line,
            f"kafka_broker_custom_listeners.internal of {host.name} is not plain values",
            "write the internal listener's port, hostname, ssl_enabled, sasl_protocol as values",
        )
    return internal


def advertised(host: Host, source: str) -> str:
    """The name cp-ansible gives a host in listeners and connect strings."""
    if flag(host, "hostname_aliasing_enabled", False, source):
        fallback = value(host, "ansible_host", host.name, source)
        return str(value(host, "hostname", fallback, source))
    return host.name


def most_common(values: list) -> Any:
    return Counter(values).most_common(1)[0][0]
