"""Dedupe and sort of load balancer ingress entries (Karmada's helper cases)."""

from __future__ import annotations

import pytest

from interpreters.builtin.loadbalancer import merge_ingress


def merge(entries, *, with_ip_mode=True):
    return merge_ingress(
        [(f"entry{index}", entry) for index, entry in enumerate(entries)], with_ip_mode=with_ip_mode
    )


def port(number, protocol="TCP", error=None):
    result = {"port": number, "protocol": protocol}
    if error is not None:
        result["error"] = error
    return result


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(
            [{"hostname": "hostname-2"}, {"hostname": "hostname-1"}],
            [{"hostname": "hostname-1"}, {"hostname": "hostname-2"}],
            id="sort hostname",
        ),
        pytest.param(
            [{"ip": "2.2.2.2"}, {"ip": "1.1.1.1"}],
            [{"ip": "1.1.1.1"}, {"ip": "2.2.2.2"}],
            id="sort ip",
        ),
        pytest.param(
            [{"ip": "1.1.1.1"}, {"hostname": "hostname-1"}],
            [{"hostname": "hostname-1"}, {"ip": "1.1.1.1"}],
            id="hostname should in front of ip",
        ),
        pytest.param(
            [
                {"ip": "1.1.1.1"},
                {"ip": "1.1.1.1", "ipMode": "VIP"},
                {"ip": "1.1.1.1", "ipMode": "Proxy"},
            ],
            [
                {"ip": "1.1.1.1", "ipMode": "Proxy"},
                {"ip": "1.1.1.1", "ipMode": "VIP"},
                {"ip": "1.1.1.1"},
            ],
            id="sort ipMode",
        ),
        pytest.param(
            [{"ip": "1.1.1.1", "ipMode": "VIP"}, {"ip": "1.1.1.1", "ipMode": "VIP"}],
            [{"ip": "1.1.1.1", "ipMode": "VIP"}],
            id="merge ipMode",
        ),
        pytest.param(
            [
                {"hostname": "a", "ip": "1.1.1.1"},
                {"hostname": "a", "ip": "1.1.1.1"},
                {"hostname": "a"},
            ],
            [{"hostname": "a"}, {"hostname": "a", "ip": "1.1.1.1"}],
            id="merge hostname and ip",
        ),
        pytest.param(
            [
                {"ip": "1.1.1.1", "ports": [port(443), port(80, "UDP")]},
                {"ip": "1.1.1.1", "ports": [port(80, "TCP"), port(443)]},
            ],
            [{"ip": "1.1.1.1", "ports": [port(80, "TCP"), port(80, "UDP"), port(443)]}],
            id="merge and sort ports",
        ),
        pytest.param(
            [
                {"ip": "1.1.1.1", "ports": [port(80, error="b"), port(80)]},
                {"ip": "1.1.1.1", "ports": [port(80, error="a"), port(80, error="b")]},
            ],
            [{"ip": "1.1.1.1", "ports": [port(80), port(80, error="a"), port(80, error="b")]}],
            id="merge and sort errors",
        ),
        pytest.param([], [], id="empty"),
    ],
)
def test_service_ingress(entries, expected):
    assert merge(entries) == expected


def test_ingress_ignores_ip_mode():
    entries = [{"ip": "1.1.1.1", "ipMode": "VIP"}, {"ip": "1.1.1.1"}]
    assert merge(entries, with_ip_mode=False) == [{"ip": "1.1.1.1"}]
