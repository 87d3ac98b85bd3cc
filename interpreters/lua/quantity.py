"""Kubernetes resource quantities, enough for the Lua `kube.resourceAdd`.

Parsing follows resource.ParseQuantity (values finer than 1n are rounded away
from zero) and formatting follows Quantity.String(): the canonical form keeps
the format of the first non-zero operand of a sum, BinarySI falls back to
DecimalSI below 1024 or for fractions, and decimal forms use a mantissa with an
exponent that is a multiple of three.
"""

from __future__ import annotations

import enum
import re
from fractions import Fraction

_PATTERN = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exp>[eE][+-]?[0-9]+)|(?P<decimal>[numkMGTPE]?))"
)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY_SUFFIX = {shift: suffix for suffix, shift in _BINARY.items()} | {0: ""}
_NANO = 10**9


class Format(enum.Enum):
    NONE = ""
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"
    DECIMAL_EXPONENT = "DecimalExponent"


class QuantityError(ValueError):
    """Not a valid quantity."""


def parse(text: str) -> tuple[Fraction, Format]:
    """The exact value and format of a quantity string such as `1500m` or `2Gi`."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise QuantityError(f"quantities must match the regular expression {_PATTERN.pattern!r}")
    value = Fraction(match["number"])
    if match["binary"]:
        value *= 2 ** _BINARY[match["binary"]]
        fmt = Format.BINARY_SI
    elif match["exp"]:
        value *= Fraction(10) ** int(match["exp"][1:])
        fmt = Format.DECIMAL_EXPONENT
    else:
        value *= Fraction(10) ** _DECIMAL[match["decimal"]]
        fmt = Format.DECIMAL_SI
    if match["sign"] == "-":
        value = -value
    return _round_to_nano(value), fmt


def add(quantities: list[tuple[Fraction, Format]]) -> tuple[Fraction, Format]:
    """Sum like Quantity.Add: a zero accumulator takes the format of what is added."""
    total, fmt = Fraction(0), Format.NONE
    for value, value_format in quantities:
        if total == 0:
            fmt = value_format
        total += value
    return total, fmt


def canonical(value: Fraction, fmt: Format) -> str:
    """Quantity.String()."""
    if value == 0:
        return "0"
    if fmt is Format.BINARY_SI:
        if -1024 < value < 1024 or value.denominator != 1:
            fmt = Format.DECIMAL_SI
        else:
            mantissa, shift = int(value), 0
            while mantissa % 1024 == 0 and shift < 60:
                mantissa, shift = mantissa // 1024, shift + 10
            return f"{mantissa}{_BINARY_SUFFIX[shift]}"
    mantissa, exponent = int(value * _NANO), -9
    while mantissa % 10 == 0:
        mantissa, exponent = mantissa // 10, exponent + 1
    adjust = exponent % 3
    mantissa, exponent = mantissa * 10**adjust, exponent - adjust
    if fmt is Format.DECIMAL_SI and exponent in _DECIMAL_SUFFIX:
        return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)


def _round_to_nano(value: Fraction) -> Fraction:
    scaled = value * _NANO
    if scaled.denominator == 1:
        return value
    magnitude = -(-abs(scaled.numerator) // scaled.denominator)
    return Fraction(magnitude if value > 0 else -magnitude, _NANO)
