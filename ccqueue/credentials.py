"""Passwords and API tokens: how they are made, stored and checked.

Rules kept here:

1. A person's password is stored only as an argon2id hash (argon2-cffi's PHC string,
   ``$argon2id$v=19$m=65536,t=3,p=4$...``): memory-hard, so a stolen configuration
   file does not give the passwords away to a GPU. The parameters are argon2-cffi's
   defaults (RFC 9106's second recommended set: 64 MiB, 3 passes), about 0.1 s a check
   on one core; a check runs in a thread, never on the event loop.
2. A machine's API token is 32 random bytes (``secrets.token_urlsafe``) with a
   ``ccq_`` prefix that secret scanners can spot. It is stored as its SHA-256
   (``sha256:<hex>``): a token is random, not chosen by a person, so a fast hash is
   enough (GitHub and PyPI store theirs the same way) and a request pays nothing.
3. Neither a password nor a token is ever written to a log or an answer; only the
   command that creates a token prints it, once.
4. ``ccqueue user hash-password`` reads the password from the terminal (or stdin when
   piped), never from the command line, where ``ps`` and the shell history see it.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import hmac
import secrets
import sys
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "PASSWORD_HASH_PREFIX",
    "TOKEN_HASH_PREFIX",
    "TOKEN_PREFIX",
    "configure_parser",
    "hash_password",
    "hash_token",
    "new_token",
    "verify_password",
]

PASSWORD_HASH_PREFIX = "$argon2id$"
TOKEN_PREFIX = "ccq_"
TOKEN_HASH_PREFIX = "sha256:"
MIN_PASSWORD_CHARS = 10  # NIST SP 800-63B asks for at least 8; a contact-centre login is worth a little more

_HASHER = PasswordHasher()
# Checked when the user name is unknown, so that "no such user" takes as long as
# "wrong password" and the time of an answer does not tell which names exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The argon2id PHC string to put in the configuration (``password_hash``)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing hash still costs one check (rule 1)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh API token (rule 2); shown once, stored only as ``hash_token(token)``."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return TOKEN_HASH_PREFIX + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_token_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# ---------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="user_command", required=True)
    p = sub.add_parser("hash-password", help="print the argon2id hash of a password, for a user's password_hash")
    p.add_argument("--stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(user_func=_cmd_hash_password)
    p = sub.add_parser("new-token", help="print a new API token and the hash to put in a user's tokens")
    p.add_argument("name", help="the user the token is for (shown in the YAML snippet)")
    p.set_defaults(user_func=_cmd_new_token)
    return parser


def run(args: argparse.Namespace) -> int:
    return int(args.user_func(args))


def _cmd_hash_password(args: argparse.Namespace) -> int:
    if args.stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("ccqueue: the passwords differ", file=sys.stderr)
            return 1
    if len(password) < MIN_PASSWORD_CHARS:
        print(f"ccqueue: a password has at least {MIN_PASSWORD_CHARS} characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def _cmd_new_token(args: argparse.Namespace) -> int:
    token = new_token()
    print(f"token (shown once; give it as 'Authorization: Bearer <token>'):\n  {token}", file=sys.stderr)
    print(f"add to users.{args.name}.tokens in the configuration, then reload:", file=sys.stderr)
    print(f'  - "{hash_token(token)}"', file=sys.stderr)
    print(token)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccqueue user", description="Passwords and API tokens for ccqueue's users")
    return run(configure_parser(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
