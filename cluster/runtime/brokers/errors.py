"""Named errors for the real-broker layer.

Every error says in one line what went wrong and what to do about it, because the
person reading it is usually running a scenario from a terminal, not debugging this
package.  Callers (the CLI, the bench) map :class:`BrokerSetupError` to exit code 3
("the environment is not ready"), which is distinct from a failed check (1) or a usage
error (2).

Following design principle 9, errors raised while *publishing* say whether they are
definite: a definite failure means the broker certainly did not take the message (it
may be retried without creating a duplicate); an indefinite one means the outcome is
unknown (the history must record ``info``, and a retry may duplicate).
"""

from __future__ import annotations

#: Exit code for "the broker environment is not ready" (missing binary, unreachable).
EXIT_BROKER_UNAVAILABLE = 3


class BrokerError(Exception):
    """Base class of every error raised by ``cluster.runtime.brokers``."""

    #: True when the operation certainly did not take effect.
    definite: bool = True

    def line(self) -> str:
        """The one-line message a CLI prints before exiting."""
        text = str(self).strip().splitlines()
        return text[0] if text else type(self).__name__


class BrokerSetupError(BrokerError):
    """The broker cannot be used at all; callers exit with :data:`EXIT_BROKER_UNAVAILABLE`."""

    exit_code = EXIT_BROKER_UNAVAILABLE


class BrokerNotInstalled(BrokerSetupError):
    """A broker binary (``rabbitmq-server``, ``epmd``, ``tansu``) is not installed.

    The message names the exact install command so the fix is one copy-paste away.
    """


class BrokerStartFailed(BrokerSetupError):
    """A private broker process was started but did not become ready in time."""


class BrokerUnreachable(BrokerSetupError):
    """No broker answered at the given address within the connect timeout."""


class UnknownBrokerKind(BrokerSetupError):
    """A broker kind was asked for that this package does not know."""


class PublishFailed(BrokerError):
    """The broker did not confirm a publish.

    ``definite`` is True for a negative confirm (nack, unroutable, rejected by the
    broker) and False when the connection broke or the confirm timed out, because then
    the message may or may not have been stored.
    """

    def __init__(self, message: str, *, definite: bool) -> None:
        super().__init__(message)
        self.definite = definite


class ConsumerLost(BrokerError):
    """The consumer's connection or group membership is gone.

    Deliveries handed out before this error can no longer be acknowledged; the broker
    will redeliver them to the next consumer.  Open a new consumer to go on.
    """

    definite = False


class StaleDelivery(BrokerError):
    """An ack/commit was attempted for a delivery from an earlier (closed) consumer."""
