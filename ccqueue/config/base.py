"""What every configuration model is built on (shared by ``models``, ``ivr`` and
``callbacks``, which ``models`` imports for ``Config``).

- ``Frozen``: unknown keys are refused, the object is frozen, types are strict, and
  infinity and NaN are refused.
- ``read_only``: a mapping the model keeps, made read-only.
- ``name_rule``: a string that must match a pattern whole, or the given reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = ["Frozen", "name_rule", "read_only"]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def name_rule(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(what)
        return value

    return AfterValidator(check)
