"""One tree of errors, split by who is at fault, each with a stable public ``error_id``.

- ``RequestError``: the sender of a request is at fault (an unknown agent, an illegal move);
- ``InputError``: an administrator's file is (a configuration, a scenario, an import);
- ``ExternalError``: something ccqueue depends on misbehaved (Asterisk, PostgreSQL, the disk);
- ``InternalError``: ccqueue itself is (a state the code should never reach).

Every error of the package derives from ``CcqueueError`` and sets its ``error_id`` on the
class, never per instance. The ids are public API (the HTTP layer maps each to a status
code in one table, and a test proves the table complete); messages are for people and
may change.
"""

from __future__ import annotations


class CcqueueError(Exception):
    """Base of every error the core raises on purpose."""

    error_id = "ccqueue-error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


class RequestError(CcqueueError):
    """The request is wrong: its sender is at fault (an unknown agent, an illegal move)."""

    error_id = "bad-request"


class UnknownAgent(RequestError):
    error_id = "agent-unknown"

    def __init__(self, agent_id: str) -> None:
        super().__init__(f"no agent {agent_id!r} is configured", agent_id=agent_id)


class IllegalTransition(RequestError):
    error_id = "agent-state-illegal"

    def __init__(self, *, state: str, trigger: str) -> None:
        super().__init__(f"an agent that is {state} cannot {trigger}", state=state, trigger=trigger)
        self.state = state
        self.trigger = trigger


class InputError(CcqueueError):
    """An administrator's file cannot be used (it says where, with every problem)."""

    error_id = "input-invalid"


class ExternalError(CcqueueError):
    """Something ccqueue depends on failed or misbehaved; often worth trying again."""

    error_id = "external"


class AsteriskMisbehaved(ExternalError):
    """Asterisk answered what it should not have, or did not answer."""

    error_id = "asterisk-misbehaved"


class InternalError(CcqueueError):
    """Our own fault: a state the core should never reach."""

    error_id = "internal"


class IllegalCallTransition(InternalError):
    """A call asked to move where ``calls.CALL_TRANSITIONS`` has no row: a bug of ours,
    never the caller's (calls move only on the core's own decisions)."""

    error_id = "call-state-illegal"

    def __init__(self, *, state: str, trigger: str) -> None:
        super().__init__(f"a call that is {state} cannot {trigger}", state=state, trigger=trigger)
        self.state = state
        self.trigger = trigger


class UnknownCallback(RequestError):
    error_id = "callback-unknown"

    def __init__(self, callback_id: str) -> None:
        super().__init__(f"no open callback {callback_id!r}", callback_id=callback_id)


class CallbackRefused(RequestError):
    """A callback that cannot be taken: no such queue, callbacks not set up, number not allowed."""

    error_id = "callback-refused"


class ReloadRefused(RequestError):
    """A new configuration that cannot take over now (it would strand calls or agents)."""

    error_id = "reload-refused"


class UnknownCampaign(RequestError):
    error_id = "campaign-unknown"

    def __init__(self, campaign: str) -> None:
        super().__init__(f"no campaign {campaign!r} is configured", campaign=campaign)


class CampaignStateIllegal(RequestError):
    """A campaign asked to start, pause or stop from a state where that means nothing."""

    error_id = "campaign-state-illegal"

    def __init__(self, *, campaign: str, state: str, action: str) -> None:
        super().__init__(f"campaign {campaign!r} is {state}: it cannot {action}", campaign=campaign, state=state, action=action)
        self.state = state
        self.action = action


class PreviewUnknown(RequestError):
    """A preview decision for a contact no agent is previewing (any more)."""

    error_id = "preview-unknown"


class AgentNotOnCall(RequestError):
    """Listening in, whispering or barging asked for an agent with no call to join."""

    error_id = "agent-not-on-call"

    def __init__(self, agent_id: str, state: str) -> None:
        super().__init__(f"agent {agent_id!r} is {state}, not on a call: there is nothing to listen to", agent_id=agent_id)


class SpyPhoneMissing(RequestError):
    """Listening in asked for by a user with no phone of its own (``users.<name>.phone``)."""

    error_id = "spy-phone-missing"


class SpyNotAnswered(RequestError):
    """The supervisor's own phone, rung to listen in, was not answered (or could not ring)."""

    error_id = "spy-not-answered"


class RecordingRefused(RequestError):
    """A recording cannot be started, paused or resumed now (no call, policy, state)."""

    error_id = "recording-refused"


class RecordingUnknown(RequestError):
    """No such recording (never made, deleted, erased, or an id that is not one)."""

    error_id = "recording-unknown"


class ErasureRefused(RequestError):
    """An erasure request that cannot be carried out as asked (e.g. not a number)."""

    error_id = "erasure-refused"
