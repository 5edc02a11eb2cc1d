"""Figures of one simulated day, as the scenario's summary and the EWT comparison.

Definitions kept here (``docs/simulator.md`` says the same):

- ``mean_wait_s``: over answered callers, from joining the queue to the agent's answer
  (the average speed of answer).
- ``service_level_20s``: answered within 20 s, over answered plus abandoned callers
  (callers still waiting when the run stops are left out).
- ``ewt``: how far the wait a caller would be told is from the wait it then had, scored
  where the caller hears it: at its queue's first announcement (``first_after_s`` after
  the call, 30 s, the product's default, for a queue without announcements), for the
  answered callers still waiting in line then with no agent's phone ringing for them
  (the product holds announcements while an agent rings; a caller answered sooner never
  hears an estimate). Each estimator tells the wait *left* at that moment: ccqueue's
  estimate made then (knowing how long the caller has waited), and app_queue's
  ``|holdtime - waited|`` (what its position announcement says); both are scored against
  the wait from the announcement to the answer. ``mae_s`` is the mean absolute error,
  ``bias_s`` the mean signed error (positive: the estimate was too long), on the same
  callers for both. Scoring the estimate given on joining only on the callers who went
  on to wait would pick callers by their outcome, and favour estimates that run long.
  ``all_answered`` keeps the estimates given on joining, against the whole wait, over
  every answered caller with a finite one.
- ``ivr`` (callers of a scenario's IVR): how many reached each queue, finished in the
  IVR (served or transferred), booked a callback or left a message there; the mean time
  from the call to joining a queue; the last IVR node of each walk, most common first.
  Their waits count from joining the queue.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ccqueue.sim.run import CallRow
from ccqueue.sim.scenario import VIA_IVR

__all__ = ["summarise"]

SERVICE_LEVEL_S = 20.0
# When a queue without announcements would say the wait, were they turned on as they come.


def _rounded(value: float, digits: int = 3) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def _counts(rows: Sequence[CallRow]) -> dict[str, Any]:
    answered = [r for r in rows if r.answered_at is not None]
    abandoned = sum(1 for r in rows if r.abandoned_at is not None)
    kinds = ("refused", "overflowed", "callback", "voicemail", "self_service", "transferred")
    released = {kind: sum(1 for r in rows if r.released == kind) for kind in kinds}
    waits = [r.answered_at - r.arrived_at for r in answered if r.answered_at is not None]
    settled = len(answered) + abandoned
    within = sum(1 for w in waits if w <= SERVICE_LEVEL_S)
    return {
        "calls": len(rows),
        "answered": len(answered),
        "abandoned": abandoned,
        "refused": released["refused"],
        "overflowed": released["overflowed"],
        "callbacks_booked": released["callback"],
        "voicemail": released["voicemail"],
        "ivr_finished": released["self_service"] + released["transferred"],  # served or sent on by the IVR
        "still_waiting": len(rows) - settled - sum(released.values()),
        "mean_wait_s": _rounded(sum(waits) / len(waits)) if waits else 0.0,
        "max_wait_s": _rounded(max(waits, default=0.0)),
        "service_level_20s": _rounded(within / settled, 4) if settled else None,
        "abandon_rate": _rounded(abandoned / settled, 4) if settled else None,
    }


def _errors(pairs: Iterable[tuple[float, float]]) -> dict[str, float | None]:
    errors = [estimate - wait for estimate, wait in pairs]
    if not errors:
        return {"mae_s": None, "bias_s": None}
    return {
        "mae_s": _rounded(sum(abs(e) for e in errors) / len(errors)),
        "bias_s": _rounded(sum(errors) / len(errors)),
    }


def _scores(scored: Sequence[CallRow], *, told: bool) -> dict[str, Any]:
    """Both estimators' errors over ``scored``: answered callers with a finite estimate.

    ``told``: the estimates each would have announced at the caller's first announcement,
    against the wait left from then; else the estimates on joining, against the whole wait.
    """
    if told:
        waits = [r.answered_at - r.told_at for r in scored if r.answered_at is not None]
        ours_told = [(r.told_s, r.told_low_s, r.told_high_s, r.told_confident) for r in scored]
        theirs = [r.holdtime_told_s for r in scored]
    else:
        waits = [r.answered_at - r.arrived_at for r in scored if r.answered_at is not None]
        ours_told = [(r.ewt_s, r.ewt_low_s, r.ewt_high_s, r.ewt_confident) for r in scored]
        theirs = [r.holdtime_s for r in scored]
    ours = _errors(zip((t[0] for t in ours_told), waits, strict=True))
    inside = sum(1 for t, w in zip(ours_told, waits, strict=True) if t[1] <= w <= t[2])
    ours["within_interval"] = _rounded(inside / len(scored), 4) if scored else None
    ours["confident_share"] = _rounded(sum(1 for t in ours_told if t[3]) / len(scored), 4) if scored else None
    baseline = _errors(zip(theirs, waits, strict=True))
    ratio = None
    if ours["mae_s"] is not None and baseline["mae_s"]:
        ratio = _rounded(ours["mae_s"] / baseline["mae_s"], 4)
    return {
        "callers": len(scored),
        "mean_wait_s": _rounded(sum(waits) / len(waits)) if waits else None,
        "ccqueue": ours,
        "app_queue_ewma": baseline,
        "mae_ratio": ratio,
    }


def _ewt(rows: Sequence[CallRow]) -> dict[str, Any]:
    answered = [r for r in rows if r.answered_at is not None]
    estimated = [r for r in answered if math.isfinite(r.ewt_s)]
    told = [r for r in answered if math.isfinite(r.told_s)]
    return {
        **_scores(told, told=True),
        "answered_before_announcement": len(answered) - len(told),
        "unestimated": len(answered) - len(estimated),
        "all_answered": _scores(estimated, told=False),
    }


def _ivr(walked: Sequence[CallRow]) -> dict[str, Any]:
    """Callers who started in the IVR: where they went, and how long it took them."""
    routed = [r for r in walked if r.queue != VIA_IVR]
    ends: dict[str, int] = {}
    for r in walked:
        end = r.ivr_path[-1] if r.ivr_path else "-"
        ends[end] = ends.get(end, 0) + 1
    return {
        "callers": len(walked),
        "to_queues": {q: sum(1 for r in routed if r.queue == q) for q in sorted({r.queue for r in routed})},
        "finished_in_ivr": sum(1 for r in walked if r.released in ("self_service", "transferred")),
        "callbacks_booked": sum(1 for r in walked if r.queue == VIA_IVR and r.released == "callback"),
        "voicemail": sum(1 for r in walked if r.queue == VIA_IVR and r.released == "voicemail"),
        "mean_to_queue_s": _rounded(sum(r.ivr_s for r in routed) / len(routed)) if routed else None,
        "last_node": dict(sorted(ends.items(), key=lambda item: (-item[1], item[0]))),
    }


def summarise(rows: Sequence[CallRow], callbacks: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The figures of a run: totals, per queue, the EWT comparison, and how callbacks ended."""
    result = _counts(rows)
    if callbacks:
        result["callbacks"] = {
            status: sum(1 for s in callbacks.values() if s == status) for status in sorted(set(callbacks.values()))
        }
    result["ewt"] = _ewt(rows)
    walked = [r for r in rows if r.ivr_path]
    if walked:
        result["ivr"] = _ivr(walked)
    queues = sorted({r.queue for r in rows if r.queue != VIA_IVR})
    if len(queues) > 1:
        result["per_queue"] = {
            q: {**_counts(mine), "ewt": _ewt(mine)} for q in queues for mine in [[r for r in rows if r.queue == q]]
        }
    return result
