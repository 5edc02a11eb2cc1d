"""The ``outbound:`` section: the trunk campaigns dial through, and which numbers they may.

    outbound:
      dial: "PJSIP/{digits}@trunk"
      allowed: ['\\+1202555\\d{4}']
      region: US
      max_channels: 30

Rules kept here:

- ``dial``, ``allowed`` and ``region`` read as in the ``callbacks:`` section (see
  ``ccqueue.config.callbacks``): ``dial`` is the trunk's dial string with ``{number}``
  or ``{digits}``, ``allowed`` the regular expressions a whole E.164 number must match
  (at least one), ``region`` where a number written without '+' is read.
- ccqueue never dials ``dial`` itself: it originates ``OUTBOUND_DIAL``, the dialplan
  guard generated from this section (``ccqueue.asterisk.outbound``), which checks the
  number against ``allowed`` once more and only then dials ``dial``. So ``dial`` may
  lead into neither that guard nor the callbacks' one.
- ``max_channels`` caps the outbound channels of all campaigns together (each
  campaign has a cap of its own besides).
- Without the section no campaign number is dialled: the guard refuses them all.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from ccqueue.config.base import Frozen
from ccqueue.config.callbacks import check_dial, check_pattern, check_region

__all__ = ["OUTBOUND_CONTEXT", "OUTBOUND_DIAL", "OUTBOUND_DIAL_CONTEXT", "Outbound"]

# The guard in front of the trunk, and what ccqueue originates to reach it. ``/n``:
# the Local channel is never optimised away, so the channel the session and the agent's
# Bridge() know (uniqueid = the attempt id) lives as long as the call.
OUTBOUND_DIAL_CONTEXT = "ccqueue-outbound-dial"
OUTBOUND_DIAL = f"Local/{{number}}@{OUTBOUND_DIAL_CONTEXT}/n"
# Where the answered callee goes: AMD, then FastAGI ``outbound``.
OUTBOUND_CONTEXT = "ccqueue-outbound"


def _check_outbound_dial(template: str) -> str:
    check_dial(template)
    if f"@{OUTBOUND_DIAL_CONTEXT}" in template:
        raise ValueError(
            f"the dial string is the trunk: ccqueue already dials through {OUTBOUND_DIAL_CONTEXT}, which dials this string"
        )
    return template


Pattern = Annotated[str, Field(min_length=1), AfterValidator(check_pattern)]


class Outbound(Frozen):
    """Outbound campaigns: the trunk, the numbers it may call, the cap on its channels."""

    dial: Annotated[str, Field(min_length=1), AfterValidator(_check_outbound_dial)]
    # YAML gives a list; the tuple keeps the section frozen.
    allowed: tuple[Pattern, ...] = Field(strict=False, min_length=1)
    region: Annotated[str, AfterValidator(check_region)]
    max_channels: Annotated[int, Field(ge=1)] = 30

    def dial_string(self, e164: str) -> str:
        """The trunk's dial string for ``e164``."""
        return self.dial.replace("{number}", e164).replace("{digits}", e164.lstrip("+"))
