"""Engines and cores.  Importing the package puts the finder for the compiled cores in
place first (see :mod:`cluster.native`), so every later ``cluster.*`` import, in any
process and through any entry point, gets the compiled module when a fresh build exists
and ``SPLITBRAIN_PURE`` is unset, and the ``.py`` module otherwise."""

from cluster import native as _native

_native.install()
