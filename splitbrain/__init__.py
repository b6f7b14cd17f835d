"""splitbrain: a distributed-systems chaos playground."""

__version__ = "0.1.0"
