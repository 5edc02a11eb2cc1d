"""Where Asterisk keeps what ccqueue asks it to record.

A recording path that is not absolute is taken under Asterisk's own spool directory
(``astspooldir``, which Asterisk reports as ``${ASTSPOOLDIR}``), so the same
configuration works for a packaged Asterisk and for a sandboxed one. The folder must
exist: RECORD FILE does not create folders (the sandbox makes ``ccqueue-messages``).
"""

from __future__ import annotations

from typing import Any


async def spool_path(request: Any, path: str) -> str:
    """``path`` made absolute against Asterisk's spool directory (asked over AGI)."""
    if path.startswith("/"):
        return path
    result = await request.send_command("GET FULL VARIABLE ${ASTSPOOLDIR}")
    answer = result.get("result")
    spool = str(answer[1]) if isinstance(answer, tuple) and len(answer) == 2 and answer[0] == "1" else ""
    return f"{(spool or '/var/spool/asterisk').rstrip('/')}/{path}"
