#!/usr/bin/env python3
"""A stand-in for a Carbon server, for the rollout test: no Java.

    fake_server.py start HOME PORT [--hang]   start one in the background; returns once it is up
    fake_server.py stop HOME                  stop the one HOME/wso2carbon.pid names; wait for it

The server process writes HOME/wso2carbon.pid and carries -Dcarbon.home=HOME in its command
line, which is how carbon-patcher recognises a running server of HOME; it answers on
127.0.0.1:PORT. With --hang it never opens its port (a server stuck while starting). It exits
by itself after an hour at most, so a test that dies leaves nothing running for long.
"""

import os
import signal
import socket
import subprocess
import sys
import time

LIFETIME_SECONDS = 3600
PID_FILE = "wso2carbon.pid"


def pid_of(home):
    try:
        with open(os.path.join(home, PID_FILE)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def serve(home_arg, port, hang):
    home = home_arg[len("-Dcarbon.home="):]
    deadline = time.monotonic() + LIFETIME_SECONDS
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(os.path.join(home, PID_FILE), "w") as f:
        f.write(f"{os.getpid()}\n")
    if hang:
        while time.monotonic() < deadline:
            time.sleep(1)
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(16)
        s.settimeout(1)
        while time.monotonic() < deadline:
            try:
                conn, _ = s.accept()
            except socket.timeout:
                continue
            with conn:
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nfake carbon\n")


def start(home, port, hang):
    home = os.path.abspath(home)
    old = pid_of(home)
    if old is not None and alive(old):
        sys.exit(f"fake_server: a server (pid {old}) already runs on {home}")
    args = [sys.executable, os.path.abspath(__file__), "serve", f"-Dcarbon.home={home}", str(port)]
    if hang:
        args.append("--hang")
    log = open(os.path.join(home, "fake-server.log"), "ab")
    # A session of its own and no inherited pipes: Ansible's command returns at once.
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if p.poll() is not None:
            sys.exit(f"fake_server: the server exited with {p.returncode}; see {home}/fake-server.log")
        if pid_of(home) == p.pid and (hang or port_open(port)):
            print(f"started: pid {p.pid}")
            return
        time.sleep(0.05)
    sys.exit("fake_server: the server did not come up in 15 s")


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def stop(home):
    pid = pid_of(home)
    if pid is None or not alive(pid):
        print("not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    # Carbon's stop leaves the pid file; carbon-patcher must not take a stale one for a server.
    print(f"stopped: pid {pid}")


def main(argv):
    if len(argv) >= 4 and argv[1] == "serve":
        serve(argv[2], int(argv[3]), "--hang" in argv[4:])
    elif len(argv) >= 4 and argv[1] == "start":
        start(argv[2], int(argv[3]), "--hang" in argv[4:])
    elif len(argv) == 3 and argv[1] == "stop":
        stop(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
