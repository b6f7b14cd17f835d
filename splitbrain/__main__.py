"""python -m splitbrain"""

from splitbrain.cli import entry

entry()
