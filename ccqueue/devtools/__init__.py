"""Tools for developing and testing ccqueue against the real parts.

`sandbox`: an Asterisk 22 sandbox (Debian sid root entered with chroot) configured
from the project's own files. `baresip`: SIP softphones that play the agents.
"""
