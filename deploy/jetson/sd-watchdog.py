#!/usr/bin/env python3
"""Run linewatch under systemd's watchdog: this process is the unit's main process and speaks
sd_notify for it.

Node has no unix datagram sockets, and `systemd-notify` run from inside linewatch is a short-lived
child whose messages systemd may drop (it looks the sender up by PID after it has exited; systemd
fixed that only in v254, JetPack 6 ships v249). So this supervisor, long-lived and the unit's main
PID, starts linewatch as its child and:

- sends READY=1 once linewatch's /healthz answers 200 (the first start may spend minutes building
  the TensorRT engine before that; the unit's TimeoutStartSec bounds it);
- while starting, pings WATCHDOG=1 as long as the child lives; once ready, only while /healthz
  answers 200, so a hung pipeline stops the pings and systemd restarts the unit;
- forwards SIGTERM/SIGINT/SIGHUP to the child and exits with the child's status.

    sd-watchdog.py [--health-url URL] [--engine-cache DIR] -- COMMAND [ARG...]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path


def notify(message: str) -> None:
    """Send one sd_notify datagram; a no-op outside systemd (no NOTIFY_SOCKET)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


def healthy(url: str, timeout_s: float) -> bool:
    """True when the health endpoint answers 200 within the timeout."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback URL from the unit)
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def has_engine(cache_dir: str | None) -> bool:
    """Whether a serialised TensorRT engine exists anywhere under the cache folder."""
    if not cache_dir:
        return False
    root = Path(cache_dir)
    return root.is_dir() and any(root.rglob("*.engine"))


def ping_interval_s(default_s: float) -> float:
    """Half of systemd's WatchdogSec (WATCHDOG_USEC), so one late ping is not fatal."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    if usec.isdigit() and int(usec) > 0:
        return max(0.05, int(usec) / 2e6)
    return default_s


def main(argv: list[str]) -> int:
    """Supervise the command after '--'; returns its exit status (128+N when killed by signal N)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--health-url",
        default=os.environ.get("LINEWATCH_HEALTH_URL", "http://127.0.0.1:9464/healthz"),
        help="linewatch's /healthz (default $LINEWATCH_HEALTH_URL or http://127.0.0.1:9464/healthz)",
    )
    parser.add_argument(
        "--engine-cache",
        default=os.environ.get("LINEWATCH_ENGINE_CACHE", "/var/lib/linewatch/trt-engines"),
        help="TensorRT engine cache, only to say in the unit status whether this start builds one",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run (put it after --)")

    interval_s = ping_interval_s(10.0)
    child_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    child = subprocess.Popen(command, env=child_env)  # noqa: S603 (the unit's own command line)

    def forward(signum: int, _frame: object) -> None:
        notify("STOPPING=1")
        if child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)

    if has_engine(args.engine_cache):
        notify("STATUS=starting (TensorRT engine cached)")
    else:
        notify("STATUS=starting: first start may build the TensorRT engine, this takes minutes")

    ready = False
    failures = 0
    while True:
        code = child.poll()
        if code is not None:
            notify(f"STATUS=linewatch exited ({code})")
            return 128 - code if code < 0 else code
        ok = healthy(args.health_url, min(2.0, interval_s))
        if not ready:
            if ok:
                ready = True
                notify("READY=1\nSTATUS=inspecting")
            notify("WATCHDOG=1")
        elif ok:
            if failures:
                notify("STATUS=inspecting")
            failures = 0
            notify("WATCHDOG=1")
        else:
            failures += 1
            notify(f"STATUS=/healthz failing ({failures} in a row)")
        try:
            child.wait(timeout=interval_s)  # returns at once when linewatch exits
        except subprocess.TimeoutExpired:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
