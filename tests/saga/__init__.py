"""Tests of the saga system: cores as transcripts, checkers on hand-made traces, scenarios."""
