"""The dialplan of outbound campaigns: ``ccqueue-outbound.conf``.

ccqueue dials a campaign number with an AMI Originate (Async)::

    Channel:   Local/<E.164>@ccqueue-outbound-dial/n
    Context:   ccqueue-outbound     Exten: s     Priority: 1
    Timeout:   <ring timeout, ms>   CallerID: <campaign caller id>
    ChannelId: <attempt id>         OtherChannelId: dial-<attempt id>
    Variable:  CCQ_ATTEMPT=<attempt id>, CCQ_CAMPAIGN=<name>, CCQ_AMD=1|0,
               CCQ_ON_MACHINE=hangup|leave_message, CCQ_MACHINE_MSG=<sound>

(``originate_action`` builds it.) ``/n`` keeps the Local channel from being optimised
away once an agent is bridged to it, so the callee's channel keeps the attempt id as
its uniqueid for the whole call. ``OtherChannelId`` matters as much: Bridge() looks a
channel up by uniqueid *prefix*, and without it Asterisk names the guard's half of
the Local channel ``<attempt id>;2``, which ``Bridge(<attempt id>)`` may take instead
of the callee — tearing the callee's call apart.

Two contexts, both generated here from the ``outbound:`` section:

``[ccqueue-outbound-dial]``, the guard in front of the trunk. The half of the Local
channel that runs it checks the number against ``outbound.allowed`` (written in as
literals, as ``ccqueue.asterisk.guard`` does for callbacks: the same rules hold) and
dials ``outbound.dial``; busy and congestion are passed back, so the Originate ends
with Reason 5 (busy) or 8 (congestion), an unanswered call with Reason 3 once the
Originate's Timeout has run, and a refused number with cause 21 and no dial at all.

``[ccqueue-outbound]``, where the answered callee's channel (uniqueid = the attempt
id) goes:

1. When ``CCQ_AMD`` is 1, ``AMD()`` listens to the greeting and sets ``AMDSTATUS``
   (HUMAN, MACHINE, NOTSURE, HANGUP) and ``AMDCAUSE``. A callee who hangs up while it
   listens never reaches step 2: ccqueue sees that as AMI ``VarSet AMDSTATUS=HANGUP``
   and the ``Hangup`` of the attempt's channel.
2. FastAGI ``outbound`` (``${CCQ_AGI}/outbound``): ccqueue's session reads
   ``CCQ_ATTEMPT``, ``CCQ_CAMPAIGN``, ``AMDSTATUS`` and ``AMDCAUSE``, holds the callee
   and either has an agent leg ``Bridge()`` to this channel's uniqueid (the AGI then
   ends on the bridge, ``AGISTATUS`` stays empty, and when the bridge ends the channel
   hangs up) or plays what it must and hangs up itself, or ends the AGI with
   ``CCQ_NEXT`` set for the dialplan to finish the call:

   - ``CCQ_NEXT=safe-harbour``: ``Playback`` of ``CCQ_SOUND`` (default
     ``ccqueue/safe-harbour``) at once, then hang up;
   - ``CCQ_NEXT=leave-message``: ``WaitForSilence`` (the machine's beep has
     sounded and it records), then ``Playback`` of ``CCQ_SOUND`` (default
     ``CCQ_MACHINE_MSG``), then hang up.

   Each sends a ``UserEvent`` ``CcqOutbound`` with ``Step: safe-harbour`` or
   ``Step: message`` and ``Status:`` the ``PLAYBACKSTATUS``, so ccqueue can record that
   the message was heard. A sound name is passed through ``FILTER()`` (letters,
   digits, ``_``, ``-``, ``/``): no path out of Asterisk's sounds, no argument syntax.
3. ccqueue unreachable (``AGISTATUS=FAILURE``): an answered callee must never hear
   dead air, so the safe-harbour message plays.
"""

from __future__ import annotations

from typing import Any

from ccqueue.asterisk.guard import REFUSED_TECH, guard_condition, trunk_parts
from ccqueue.config.outbound import OUTBOUND_CONTEXT, OUTBOUND_DIAL, OUTBOUND_DIAL_CONTEXT
from ccqueue.number_patterns import to_posix

__all__ = [
    "AMD_PARAMETERS",
    "AUTO_ANSWER_HEADERS",
    "OUTBOUND_FILE",
    "SAFE_HARBOUR",
    "TRUNK_SIDE_PREFIX",
    "auto_answer_variables",
    "originate_action",
    "outbound_conf",
]

OUTBOUND_FILE = "ccqueue-outbound.conf"
SAFE_HARBOUR = "ccqueue/safe-harbour"

# AMD()'s arguments, in its order, in milliseconds but the word count and the
# threshold: Asterisk's documented defaults (amd.conf), which tell the stand-in
# network's person and machine apart every time. Measured on Asterisk 22
# (tests/integration/test_outbound_dialplan.py): a person's "hello" (0.5 s of voice)
# is HUMAN 0.8 s after it ends (AMDCAUSE HUMAN-810-800), about 1.9 s after the answer;
# a machine's greeting is MACHINE at its third word (MAXWORDS-3-2), about 2.0 s after
# the answer, before the 1.5 s greeting limit. A shorter after_greeting_silence would
# connect people sooner but take a person's pause after "hello?" ("...who is this?")
# for the end of their greeting; a longer one eats into the 2 s a person may wait.
AMD_PARAMETERS: tuple[tuple[str, int], ...] = (
    ("initial_silence", 2500),  # no voice this long after the answer: MACHINE (a machine pausing first)
    ("greeting", 1500),  # one utterance longer than this: MACHINE (LONGGREETING); people say "hello" and stop
    ("after_greeting_silence", 800),  # silence this long after the first words: HUMAN
    ("total_analysis_time", 5000),  # undecided by then: NOTSURE (the session treats it as a person)
    ("min_word_length", 100),  # shorter voice is noise, not a word
    ("between_words_silence", 50),  # silence that separates two words
    ("maximum_number_of_words", 2),  # a third word: MACHINE (MAXWORDS)
    ("silence_threshold", 256),  # average sample magnitude under which a frame is silence
    ("maximum_word_length", 5000),  # one word longer than this: MACHINE (MAXWORDLENGTH)
)
# WaitForSilence() before a message is left: 2.0 s of silence (the machine records after
# its beep; the pauses between a greeting's sentences are shorter), once, giving up
# after 30 s (a greeting longer than that is rare; the message then plays anyway).
MESSAGE_SILENCE_MS = 2000
MESSAGE_WAIT_S = 30
# What a sound name may hold, in FILTER()'s notation: '-' first, since after a single
# character it would start a range.
_SOUND_CHARS = "-/_A-Za-z0-9"

# The agent leg of an outbound call rings with these SIP headers, so the agent's phone
# answers at once (the callee is already on the line). RFC 5373's answer-after in
# Call-Info, and the Alert-Info most desk phones (Polycom, Yealink, Snom) read; the
# URIs are placeholders no phone fetches.
AUTO_ANSWER_HEADERS: tuple[tuple[str, str], ...] = (
    ("Call-Info", "<sip:127.0.0.1>;answer-after=0"),
    ("Alert-Info", "<http://127.0.0.1/>;info=alert-autoanswer;delay=0"),
)

_HEADER = "; Generated by ccqueue.asterisk.render from the ccqueue configuration. Do not edit."


def _guard(outbound: Any) -> list[str]:
    lines = [
        "; The guard in front of the trunk. ccqueue originates Local/<E.164>@ccqueue-outbound-dial/n;",
        "; this half of the Local channel checks the number and dials the trunk.",
        f"[{OUTBOUND_DIAL_CONTEXT}]",
    ]
    if outbound is None:
        return [
            *lines,
            "; No outbound section: no number may be dialled.",
            "exten => _+X.,1,Log(WARNING,ccqueue: outbound call to +${FILTER(0-9,${EXTEN})} refused: outbound is not set up)",
            " same => n,Hangup(21)",
        ]
    allowed = tuple(outbound.allowed)
    condition = guard_condition(allowed)
    tech, resource = trunk_parts(str(outbound.dial))
    lines += ["; outbound.allowed, as Asterisk's REGEX() reads them:"]
    lines += [f";   {p}  ->  {to_posix(p)}" for p in allowed]
    return [
        *lines,
        f"exten => _+X.,1,GotoIf({condition}?dial)",
        " same => n,Log(WARNING,ccqueue: outbound call to +${FILTER(0-9,${EXTEN})} refused: not a number outbound.allowed allows)",
        " same => n,Hangup(21)",
        # No ring timeout here: the Originate's Timeout ends the call, and with it this half.
        f" same => n(dial),Dial(${{IF({condition}?{tech}:{REFUSED_TECH})}}/{resource})",
        ' same => n,GotoIf($["${DIALSTATUS}" = "BUSY"]?busy)',
        ' same => n,GotoIf($["${DIALSTATUS}" = "CONGESTION" | "${DIALSTATUS}" = "CHANUNAVAIL"]?congestion)',
        " same => n,Hangup()",
        " same => n(busy),Busy(5)",
        " same => n,Hangup()",
        " same => n(congestion),Congestion(5)",
        " same => n,Hangup()",
    ]


def _session() -> list[str]:
    amd = ",".join(str(value) for _, value in AMD_PARAMETERS)
    # Variables an AMI user may set reach a condition or an application only filtered:
    # no quote, '?' or ':' of theirs can change what GotoIf() or IF() does.
    nxt = "${FILTER(a-z-,${CCQ_NEXT})}"
    return [
        "; The answered callee (uniqueid = the attempt id): AMD when asked, then ccqueue's session.",
        "; AMD(" + ",".join(name for name, _ in AMD_PARAMETERS) + ")",
        f"[{OUTBOUND_CONTEXT}]",
        'exten => s,1,GotoIf($["${FILTER(0-9,${CCQ_AMD})}" != "1"]?session)',
        f" same => n,AMD({amd})",
        " same => n(session),AGI(${CCQ_AGI}/outbound?key=${CCQ_AGI_KEY})",
        f' same => n,GotoIf($["{nxt}" = "safe-harbour"]?harbour)',
        f' same => n,GotoIf($["{nxt}" = "leave-message"]?message)',
        # ccqueue could not be reached: nobody will talk to this callee.
        ' same => n,GotoIf($["${AGISTATUS}" = "FAILURE"]?harbour)',
        " same => n,Hangup()",
        f" same => n(harbour),Set(CCQ_SOUND=${{FILTER({_SOUND_CHARS},${{CCQ_SOUND}})}})",
        f' same => n,Set(CCQ_SOUND=${{IF($["${{CCQ_SOUND}}" = ""]?{SAFE_HARBOUR}:${{CCQ_SOUND}})}})',
        " same => n,Playback(${CCQ_SOUND})",
        " same => n,UserEvent(CcqOutbound,Step: safe-harbour,Status: ${PLAYBACKSTATUS})",
        " same => n,Hangup()",
        f" same => n(message),Set(CCQ_SOUND=${{FILTER({_SOUND_CHARS},${{CCQ_SOUND}})}})",
        f" same => n,Set(CCQ_MSG=${{FILTER({_SOUND_CHARS},${{CCQ_MACHINE_MSG}})}})",
        ' same => n,Set(CCQ_SOUND=${IF($["${CCQ_SOUND}" = ""]?${CCQ_MSG}:${CCQ_SOUND})})',
        f" same => n,WaitForSilence({MESSAGE_SILENCE_MS},1,{MESSAGE_WAIT_S})",
        " same => n,Playback(${CCQ_SOUND})",
        " same => n,UserEvent(CcqOutbound,Step: message,Status: ${PLAYBACKSTATUS})",
        " same => n,Hangup()",
    ]


# The guard's half of the Local channel: a uniqueid that does not start with the attempt id.
TRUNK_SIDE_PREFIX = "dial-"


def originate_action(
    *,
    attempt_id: str,
    number: str,
    campaign: str,
    caller_id: str,
    ring_timeout_s: float,
    amd: bool,
    on_machine: str = "hangup",
    machine_message: str | None = None,
) -> dict[str, Any]:
    """The AMI Originate (Async) that dials ``number`` (E.164) for one attempt."""
    variables = [
        f"CCQ_ATTEMPT={attempt_id}",
        f"CCQ_CAMPAIGN={campaign}",
        f"CCQ_AMD={1 if amd else 0}",
        f"CCQ_ON_MACHINE={on_machine}",
    ]
    if machine_message:
        variables.append(f"CCQ_MACHINE_MSG={machine_message}")
    return {
        "Action": "Originate",
        "Channel": OUTBOUND_DIAL.replace("{number}", number),
        "Context": OUTBOUND_CONTEXT,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(int(ring_timeout_s * 1000)),
        "CallerID": caller_id,
        "ChannelId": attempt_id,
        "OtherChannelId": f"{TRUNK_SIDE_PREFIX}{attempt_id}",
        "Variable": variables,
        "Async": "true",
    }


def auto_answer_variables() -> list[str]:
    """Originate variables that add ``AUTO_ANSWER_HEADERS`` to a PJSIP agent leg's INVITE.

    Asterisk sets an Originate's variables on the new channel before it dials, and a
    ``PJSIP_HEADER(add,...)`` set then goes into the INVITE. AMI splits ``Variable`` on
    commas outside parentheses, so each item may be joined with ','.
    """
    return [f"PJSIP_HEADER(add,{name})={value}" for name, value in AUTO_ANSWER_HEADERS]


def outbound_conf(outbound: Any) -> str:
    """The text of ``ccqueue-outbound.conf`` for an ``outbound`` section (or None)."""
    lines = [
        _HEADER,
        "; Included by extensions.conf: how ccqueue's campaigns reach the trunk, and their answered calls ccqueue.",
        *_guard(outbound),
        "; Anything but '+' and a digit first: not a number ccqueue dials.",
        "exten => _X.,1,Log(WARNING,ccqueue: outbound call to ${FILTER(0-9,${EXTEN})} refused: no '+')",
        " same => n,Hangup(21)",
        "",
        *_session(),
    ]
    return "\n".join(lines) + "\n"
