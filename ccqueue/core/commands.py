"""Commands: what the core decides, for the engine's adapters to carry out.

The core never performs I/O; it returns these. Each names its target by ids the adapters
know (a call's AGI session, an offer's channel id), and carries a ``reason`` the engine
logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccqueue.core.dialogue import Play, Say
from ccqueue.core.records import Record


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayToCaller:
    """Play a prompt to a waiting caller (through its AGI session)."""

    call_id: str
    sound: str


Prompt = Play | Say
"""One piece of an announcement, in the caller dialogue's words (``ccqueue.core.dialogue``):
a sound file played, or a number or digits said. The adapter makes it interruptible by
the callback key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceToCaller:
    """Tell a waiting caller something (position, wait, a periodic message) in their language.

    Cut at once when an agent takes the call: the agent's Bridge() ends the prompt.
    """

    call_id: str
    prompts: tuple[Prompt, ...]
    language: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunIvr:
    """Take the caller through the hotline's IVR tree from ``entry`` (the adapter runs it
    and reports back with CallProgressed, CallRouted, CallFinished or CallbackRequested)."""

    call_id: str
    entry: str
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferCallback:
    """Offer the caller a callback to ``number`` (read back, confirm or key another).

    Accepted: the adapter posts CallbackRequested with this call_id. Declined: it posts
    CallbackDeclined; a caller not in line (``release_if_declined``) is then released.
    """

    call_id: str
    number: str  # the caller's own number ('' when withheld: the caller must key one)
    language: str
    release_if_declined: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordMessage:
    """Let the caller leave a message, recorded to ``path`` (without extension), then hang up."""

    call_id: str
    path: str
    max_s: float
    language: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldCaller:
    """Keep a waiting caller on music on hold until an agent pulls it into a bridge."""

    call_id: str
    moh_class: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseCaller:
    """End ccqueue's handling of a caller: play ``sound`` (if any), then hang up."""

    call_id: str
    sound: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateAgent:
    """Ring an agent's phone; when answered, its leg enters the agent context and claims."""

    offer_id: str  # used as the new channel's uniqueid (AMI ChannelId)
    call_id: str
    agent_id: str
    endpoint: str  # e.g. PJSIP/agent1
    ring_timeout_s: float
    caller_id: str  # shown on the agent's phone
    auto_answer: bool = False  # a campaign's call: the phone answers by itself


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupChannel:
    """Hang up a channel by its uniqueid (cancel a ringing agent leg)."""

    uniqueid: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RedirectCaller:
    """Move a caller out of its AGI session to a dialplan location (at once, even mid-prompt)."""

    call_id: str
    channel: str
    context: str
    exten: str
    priority: str  # a number or a label


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyAgentPaused:
    """The core paused an agent by itself (missed calls): tell people."""

    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """Hand a record to the store."""

    record: Record


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchContacts:
    """Ask the store for up to ``limit`` contacts of ``campaign`` due now (the answer
    comes back as ContactsSupplied)."""

    campaign: str
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DialContact:
    """Dial a campaign's contact (AMI Originate, ChannelId = ``attempt_id``); an
    unanswered end comes back as ContactDialEnded, an answer as the callee's FastAGI
    session (ContactAnswered)."""

    attempt_id: str
    campaign: str
    number: str  # E.164
    caller_id: str
    ring_timeout_s: float
    amd: bool
    on_machine: str
    machine_message: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveMessage:
    """An answering machine: wait for its beep (silence), play ``sound``, hang up."""

    call_id: str  # the attempt id: the callee's session
    sound: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayBroadcast:
    """Play a broadcast's message; a key of ``keys`` stops it and is reported
    (CalleePressed), as is the message's end with no key."""

    call_id: str  # the attempt id: the callee's session
    sound: str
    keys: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NoteOnCaller:
    """Keep facts about the call on the caller's channel (channel variables), so that a
    restarted ccqueue finds the caller's queue and place from the channel itself."""

    call_id: str
    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlRecording:
    """Start (a recording held on demand), pause or resume the recording on an agent's
    leg, named by its uniqueid (AMI MixMonitorMute). ``file`` is relative to the
    recordings folder and made by the core (``ccqueue.core.recording``)."""

    uniqueid: str
    recording_id: str
    file: str
    action: str  # start, pause, resume


Command = (
    PlayToCaller
    | HoldCaller
    | ReleaseCaller
    | OriginateAgent
    | HangupChannel
    | RedirectCaller
    | NotifyAgentPaused
    | Write
    | AnnounceToCaller
    | RunIvr
    | OfferCallback
    | RecordMessage
    | FetchContacts
    | DialContact
    | LeaveMessage
    | PlayBroadcast
    | NoteOnCaller
    | ControlRecording
)

CALLER_COMMANDS = (
    PlayToCaller,
    HoldCaller,
    ReleaseCaller,
    AnnounceToCaller,
    RunIvr,
    OfferCallback,
    RecordMessage,
    LeaveMessage,
    PlayBroadcast,
    NoteOnCaller,
)
"""Commands carried out by the caller's own FastAGI session, in order."""
