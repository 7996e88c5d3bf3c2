#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (as root), then runs the lint gate and
# the whole test suite. `.ci/run` calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
# nftables + iproute2: the firewall tests in network namespaces; openssh: the SSH adapter's real server;
# poppler-utils: pdftotext / pdftoppm on the generated PDFs; postgresql: the case store on PostgreSQL;
# postfix: the mail-queue adapter against a private, non-listening instance
# rsyslog (+gnutls, relp), bsdutils (logger): real senders of the serve tests; fail2ban: the live benchmark's peer
# chromium: the console's browser tests (Playwright drives Debian's build, never a downloaded one)
apt_packages=(nftables iproute2 openssh-server openssh-client poppler-utils postgresql postfix fonts-dejavu-core
  rsyslog rsyslog-gnutls rsyslog-relp bsdutils gnutls-bin fail2ban chromium)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  # postfix asks how to configure itself; it must install unconfigured and stopped
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# the Debian package starts a cluster we do not use; the tests start their own on a free port
if command -v pg_ctlcluster >/dev/null 2>&1; then pg_ctlcluster --mode immediate 15 main stop >/dev/null 2>&1 || true; fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'

echo "== ruff"; .venv/bin/ruff check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/pytest -q -p no:cacheprovider "$@"
