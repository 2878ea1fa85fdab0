"""``resource.Quantity`` as an exact number.

A quantity is a decimal number with either a decimal exponent (``1e3``) or a suffix, binary
(``Ki`` … ``Ei``) or decimal (``n``, ``u``, ``m``, ``""``, ``k``, ``M`` … ``E``), never both.
:func:`parse_quantity` returns a :class:`~fractions.Fraction` so that ``250m`` is exactly 1/4 and
``1.5Gi`` exactly 1610612736: the scheduler's sums and the kubelet's ``resourceFieldRef`` divisions
round (up) once, at the end, as upstream's ``inf.Dec`` arithmetic does, rather than carrying float
errors. The error message is the API server's, so a caller may show it as is.
"""

from __future__ import annotations

import re
from fractions import Fraction

QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

_SUFFIXES = {
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)")


def parse_quantity(value: object) -> Fraction:
    """A quantity (``"250m"``, ``"1.5Gi"``, ``"1e3"``, or a JSON number ``2``) as an exact number.

    Raises ValueError, with the API server's message, for anything else (booleans included:
    JSON ``true`` is not a number).
    """
    if isinstance(value, bool):
        raise ValueError(f"{QUANTITY_ERROR}: {value!r}")
    if isinstance(value, int | float):
        return Fraction(value)
    match = _QUANTITY.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"{QUANTITY_ERROR}: {value!r}")
    number, exponent, suffix = match.groups()
    base = Fraction(number)
    if exponent:
        return base * Fraction(10) ** int(exponent[1:])
    return base * _SUFFIXES[suffix or ""]


_DECIMAL_SUFFIXES = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""), (-3, "m"), (-6, "u"))
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def is_binary_quantity(value: object) -> bool:
    """Whether ``value`` was written with a binary suffix (``128Mi``): upstream's BinarySI format."""
    return isinstance(value, str) and value.strip().endswith("i")


def format_quantity(value: Fraction, *, binary: bool = False) -> str:
    """``Quantity.String()``: the canonical text of ``value`` in the decimal or binary SI format.

    Decimal values take the largest suffix that leaves an integer (``1500m``, ``2k``, ``1``) and
    are rounded up to nano units; binary ones the largest power of 1024 that divides them
    (``1536Mi``), falling back to decimal below 1024 or for a fraction, as upstream does.
    """
    if binary and value.denominator == 1 and abs(value) >= 1024:
        number, power = int(value), 0
        while number % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
            number //= 1024
            power += 1
        return f"{number}{_BINARY_SUFFIXES[power]}"
    if value == 0:
        return "0"
    for exponent, suffix in _DECIMAL_SUFFIXES:
        scaled = value / Fraction(10) ** exponent
        if scaled.denominator == 1:
            return f"{scaled.numerator}{suffix}"
    nanos = value * 10**9
    return f"{-((-nanos.numerator) // nanos.denominator)}n"
