"""Merge the load balancer ingress lists of Services and Ingresses across members.

Entries are deduplicated by hostname/ip (and ipMode for Services) with their
ports merged as a set, then sorted: entries with a hostname first, then by
hostname, ip and ipMode (unset last); ports by port, protocol and error (unset first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .fields import get_int, get_maps, get_str

_Port = tuple[int, str, str | None]
_Key = tuple[str, str, str | None]


def merge_ingress(
    entries: Iterable[tuple[str, Mapping[str, Any]]], *, with_ip_mode: bool
) -> list[dict[str, Any]]:
    """Deduplicate and sort `(path, entry)` pairs into the JSON ingress list."""
    ports_by_key: dict[_Key, set[_Port]] = {}
    for path, entry in entries:
        ip_mode = _optional_str(entry, "ipMode", path) if with_ip_mode else None
        key = (get_str(entry, "hostname", path), get_str(entry, "ip", path), ip_mode)
        ports = ports_by_key.setdefault(key, set())
        for index, port in enumerate(get_maps(entry, "ports", path)):
            where = f"{path}.ports[{index}]"
            ports.add(
                (
                    get_int(port, "port", where),
                    get_str(port, "protocol", where),
                    _optional_str(port, "error", where),
                )
            )
    return [_entry_json(key, ports_by_key[key]) for key in sorted(ports_by_key, key=_entry_order)]


def _entry_order(key: _Key) -> tuple[bool, str, str, bool, str]:
    hostname, ip, ip_mode = key
    return (hostname == "", hostname, ip, ip_mode is None, ip_mode or "")


def _port_order(port: _Port) -> tuple[int, str, bool, str]:
    number, protocol, error = port
    return (number, protocol, error is not None, error or "")


def _entry_json(key: _Key, ports: set[_Port]) -> dict[str, Any]:
    hostname, ip, ip_mode = key
    entry: dict[str, Any] = {}
    if ip:
        entry["ip"] = ip
    if hostname:
        entry["hostname"] = hostname
    if ip_mode is not None:
        entry["ipMode"] = ip_mode
    if ports:
        entry["ports"] = [_port_json(port) for port in sorted(ports, key=_port_order)]
    return entry


def _port_json(port: _Port) -> dict[str, Any]:
    number, protocol, error = port
    result: dict[str, Any] = {"port": number, "protocol": protocol}
    if error is not None:
        result["error"] = error
    return result


def _optional_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if obj.get(key) is None else get_str(obj, key, path)
