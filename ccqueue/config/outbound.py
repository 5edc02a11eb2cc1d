"""The ``outbound:`` section: the trunk campaigns dial through, and which numbers they may.

Rules kept here:

- Campaigns need the section: a ``campaigns:`` section without it is an error (checked
  in ``ccqueue.config.campaigns``, where both are known).
- ``dial`` is the trunk's dial string, as in ``callbacks``: ``{number}`` (E.164, with
  '+') or ``{digits}`` (the same without '+'), technology and resource only, nothing
  the dialplan would read as syntax. ccqueue never dials it itself: it dials
  ``GUARD_DIAL``, the dialplan guard, which checks the number against ``allowed`` once
  more and only then dials ``dial``; so ``dial`` may not lead into the guard.
- ``allowed`` lists regular expressions, each over the whole E.164 number; only numbers
  matching one are ever dialled, and at least one must be written.
- ``region`` is where a list's number written without '+' is read.
- ``max_channels`` caps the outbound channels of all campaigns together (each campaign
  has its own ``max_lines`` under it).
- ``campaign_share`` is the campaigns' share of the agents that waiting callbacks and
  running campaigns both want (``ccqueue.core.blending``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from ccqueue.config.base import Frozen
from ccqueue.config.callbacks import Pattern, _check_dial, _check_region

__all__ = ["GUARD_CONTEXT", "GUARD_DIAL", "OUTBOUND_CONTEXT", "OUTBOUND_DIAL", "OUTBOUND_DIAL_CONTEXT", "Outbound"]

# The dialplan context that checks a campaign's number again and dials the trunk, and
# what ccqueue dials to reach it (ccqueue.asterisk.outbound writes the context). ``/n``:
# the Local channel is never optimised away, so the channel the session and the agent's
# Bridge() know (uniqueid = the attempt id) lives as long as the call.
GUARD_CONTEXT = "ccqueue-outbound-dial"
GUARD_DIAL = f"Local/{{number}}@{GUARD_CONTEXT}/n"
# The same, by the names the dialplan side uses; and where an answered callee goes
# (AMD, then FastAGI ``outbound``).
OUTBOUND_DIAL_CONTEXT = GUARD_CONTEXT
OUTBOUND_DIAL = GUARD_DIAL
OUTBOUND_CONTEXT = "ccqueue-outbound"


def _check_outbound_dial(template: str) -> str:
    _check_dial(template)
    if f"@{GUARD_CONTEXT}" in template:
        raise ValueError(f"the dial string is the trunk: ccqueue already dials through {GUARD_CONTEXT}, which dials this string")
    return template


class Outbound(Frozen):
    """The outbound trunk and the numbers campaigns may call through it."""

    dial: Annotated[str, Field(min_length=1), AfterValidator(_check_outbound_dial)]
    region: Annotated[str, AfterValidator(_check_region)]
    # YAML gives a list; the tuple keeps the section frozen.
    allowed: tuple[Pattern, ...] = Field(strict=False, min_length=1)
    # Trunk capacity: 30 is one E1/PRI's worth of channels.
    max_channels: Annotated[int, Field(ge=1)] = 30
    # Blending: of the agents that waiting callbacks and running campaigns both want,
    # the campaigns' share (0.5: turn about; 0: callbacks always first).
    campaign_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5

    def dial_string(self, e164: str) -> str:
        """The trunk's dial string for ``e164``."""
        return self.dial.replace("{number}", e164).replace("{digits}", e164.lstrip("+"))
