"""python -m splitbrain"""

from splitbrain.cli import main

raise SystemExit(main())
