"""Kubernetes quantities behind the Lua `kube.resourceAdd`."""

from __future__ import annotations

import pytest

from interpreters.lua import quantity


def resource_add(*values):
    return quantity.canonical(*quantity.add([quantity.parse(value) for value in values]))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("0", "3072Mi"), "3Gi"),
        (("3Gi", "10752Mi"), "13824Mi"),
        (("0", "1000m"), "1"),
        (("1", "2000m"), "3"),
        (("3G", "5G"), "8G"),
        (("250m", "250m", "500m"), "1"),
        (("100m", "50m"), "150m"),
        (("1.5",), "1500m"),
        (("3000",), "3k"),
        (("1e3",), "1e3"),
        (("1Ki", "1"), "1025"),
        (("512", "512Mi"), "536871424"),
        (("0.1n",), "1n"),
        (("-5m",), "-5m"),
        (("1.5Gi",), "1536Mi"),
        ((), "0"),
    ],
)
def test_resource_add(values, expected):
    assert resource_add(*values) == expected


@pytest.mark.parametrize("text", ["", "1.2.3", "5Xi", "abc", "1 Gi"])
def test_invalid(text):
    with pytest.raises(quantity.QuantityError):
        quantity.parse(text)
