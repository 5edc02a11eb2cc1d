"""The testbed around ccqueue: the real parts it is tried against, outside the product.

`sandbox`: an Asterisk 22 sandbox (a Debian sid root entered with chroot) configured from
the project's own files. `baresip`: SIP softphones that play the agents. `daemon`: a
``ccqueue run`` process for tests and benchmarks. `callers`: simulated callers. `demo`:
everything together (``deploy/demo.sh``).

Not part of the installed package: a wheel holds only ``ccqueue``.
"""
