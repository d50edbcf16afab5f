#!/usr/bin/env python3
"""The real rollout: site.yml against three product homes on this machine.

    rollout.py CARBON_PATCHER_BINARY      (run by packaging/ansible/test.sh, inside its venv)

Three inventory hosts (ansible_connection: local), each a copy of sample-product/ in a temp dir,
already patched once, with a fake server (fake_server.py) running on it and answering on a port
of its own. Each node gets its own bin, unit, configuration and staging dirs, so what the role
installs on one node is seen apart from the others. The archive pushed is a patch zip as WSO2
ships them (WSO2-CARBON-PATCH-4.4.0-0003/patch0003/...) with its sha256sum file.

1. node2's server hangs while starting (its port never answers): the rollout patches and
   restarts node1, fails on node2's health check, and never touches node3 (no file of the role,
   the product byte-identical, its server the same process).
2. node2 fixed: the rollout goes on; node1 has nothing to do (no change reported), node2 is
   restarted because its port does not answer, node3 is patched and restarted.
3. Again: nothing changes anywhere. Each home verifies clean (`carbon-patcher verify`,
   read-only) and `status` exits 0.
4. A new archive with a wrong checksum: `carbon-patcher install` refuses it on node1, whose
   server is not touched, and the rollout stops there: every product byte-identical, every
   server the same process.

Exits 1 with the reason and the playbook's output on the first unmet expectation.
"""

import grp
import hashlib
import io
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ANSIBLE_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(ANSIBLE_DIR))
FAKE_SERVER = os.path.join(HERE, "fake_server.py")
NODES = ["node1", "node2", "node3"]
PATCH = "patch0003"
PATCH_ZIP = "WSO2-CARBON-PATCH-4.4.0-0003.zip"
PATCHED_BUNDLE = ("org.wso2.carbon.logging", "4.4.9")
PLUGIN = f"{PATCHED_BUNDLE[0]}_{PATCHED_BUNDLE[1]}.jar"

checks = 0


class Failed(Exception):
    pass


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise Failed(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def bundle_jar(symbolic, version, payload):
    """A jar carbon-patcher accepts: an OSGi manifest and one entry, deflated, fixed times."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        manifest = (
            "Manifest-Version: 1.0\r\nBundle-ManifestVersion: 2\r\n"
            f"Bundle-SymbolicName: {symbolic}\r\nBundle-Version: {version}\r\n\r\n"
        )
        for name, data in [("META-INF/MANIFEST.MF", manifest), ("payload.txt", payload)]:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def make_archive(files_dir):
    """The patch zip with a wrapper dir, as WSO2 ships them, and its sha256sum file."""
    jar = bundle_jar(*PATCHED_BUNDLE, "patched by patch0003")
    wrapper = PATCH_ZIP[: -len(".zip")]
    path = os.path.join(files_dir, PATCH_ZIP)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{wrapper}/README.txt", "patch0003: fixes logging\n")
        z.writestr(f"{wrapper}/{PATCH}/{PLUGIN}", jar)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(path + ".sha256", "w") as f:
        f.write(f"{digest}  {PATCH_ZIP}\n")
    return path, path + ".sha256", jar


def snapshot(root, dir_times=True):
    """Every path under root with its mode, inode, mtime and bytes; dir_times=False leaves out
    the directories' mtimes (which a look that stages nothing for good may still move)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            data = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    data = f.read()
            is_dir = os.path.isdir(p) and not os.path.islink(p)
            mtime = None if is_dir and not dir_times else st.st_mtime_ns
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_ino, mtime, data)
    return out


class Node:
    def __init__(self, work, name, binary):
        self.name = name
        self.dir = os.path.join(work, name)
        self.home = os.path.join(self.dir, "wso2am")
        self.port = free_port()
        self.binary = binary
        shutil.copytree(os.path.join(REPO, "sample-product"), self.home, symlinks=True)

    def cp(self, *args):
        return subprocess.run([self.binary, *args, "--carbon-home", self.home],
                              capture_output=True, text=True)

    def start(self, hang=False):
        cmd = [sys.executable, FAKE_SERVER, "start", self.home, str(self.port)]
        subprocess.run(cmd + (["--hang"] if hang else []), check=True, capture_output=True)

    def stop(self):
        subprocess.run([sys.executable, FAKE_SERVER, "stop", self.home], capture_output=True)

    def pid(self):
        try:
            with open(os.path.join(self.home, "wso2carbon.pid")) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def host_vars(self, binary, hang):
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        start = [sys.executable, FAKE_SERVER, "start", self.home, str(self.port)]
        return {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_become": False,
            "carbon_patcher_carbon_home": self.home,
            "carbon_patcher_binary": binary,
            "carbon_patcher_bin_dir": os.path.join(self.dir, "bin"),
            "carbon_patcher_unit_dir": os.path.join(self.dir, "units"),
            "carbon_patcher_config_dir": os.path.join(self.dir, "etc"),
            "carbon_patcher_config_owner": user,
            "carbon_patcher_config_group": group,
            "carbon_patcher_staging_dir": os.path.join(self.dir, "staging"),
            "carbon_patcher_settings": {"poll_seconds": 10, "settle_seconds": 1.5},
            "carbon_patcher_properties": {"carbon.home": self.home},
            "carbon_patcher_server_stop_command": [sys.executable, FAKE_SERVER, "stop", self.home],
            "carbon_patcher_server_start_command": start + (["--hang"] if hang else []),
            "carbon_patcher_server_port": self.port,
            "carbon_patcher_server_start_timeout": 5,
        }

    def role_dirs(self):
        return [d for d in ("bin", "units", "etc", "staging")
                if os.path.exists(os.path.join(self.dir, d))]


def playbook(work, inventory, label):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_HOME": os.path.join(work, "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(work, "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": os.path.join(work, "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    })
    p = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         "-i", inventory, os.path.join(ANSIBLE_DIR, "site.yml")],
        capture_output=True, text=True, env=env, cwd=ANSIBLE_DIR)
    log = os.path.join(work, f"{label}.log")
    with open(log, "w") as f:
        f.write(p.stdout + p.stderr)
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                         p.stdout, re.M):
        recap[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)),
                             "failed": int(m.group(5))}
    return p.returncode, recap, p.stdout + p.stderr


def write_inventory(work, nodes, binary, archive, sums, hang):
    inv = {"carbon_servers": {
        "hosts": {n.name: n.host_vars(binary, n.name in hang) for n in nodes},
        "vars": {"carbon_patcher_archives": [{"archive": archive, "sha256": sums}]},
    }}
    path = os.path.join(work, "inventory.json")
    with open(path, "w") as f:
        json.dump(inv, f, indent=2)
    return path


def patched(node, jar):
    with open(os.path.join(node.home, "repository/components/plugins", PLUGIN), "rb") as f:
        return f.read() == jar


def healthy(node, what):
    v = node.cp("verify")
    check(v.returncode == 0, f"{node.name} {what}: verify exited {v.returncode}: {v.stdout}{v.stderr}")
    s = node.cp("status")
    check(s.returncode == 0, f"{node.name} {what}: status exited {s.returncode}: {s.stdout}{s.stderr}")
    check(port_open(node.port), f"{node.name} {what}: its server does not answer")


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="carbon-patcher-rollout-")
    nodes = []
    output = ""
    try:
        files = os.path.join(work, "files")
        os.makedirs(files)
        archive, sums, jar = make_archive(files)
        for name in NODES:
            n = Node(work, name, binary)
            # The state before this rollout: the sample's own patches applied, the server up.
            r = n.cp("apply", "--quiet")
            check(r.returncode == 0, f"{name}: first apply exited {r.returncode}: {r.stderr}")
            n.start()
            nodes.append(n)
        node1, node2, node3 = nodes
        pids = {n.name: n.pid() for n in nodes}
        node3_before = snapshot(node3.home)

        # 1. node2 fails its health check: the rollout stops there.
        inv = write_inventory(work, nodes, binary, archive, sums, hang={"node2"})
        rc, recap, output = playbook(work, inv, "run1")
        check(rc != 0, "run 1 should fail on node2")
        check(recap.get("node1", {}).get("failed") == 0 and recap["node1"]["changed"] > 0,
              f"run 1: node1 should be patched: {recap}")
        check(recap.get("node2", {}).get("failed") == 1, f"run 1: node2 should fail: {recap}")
        check("node3" not in recap or recap["node3"]["ok"] == 0, f"run 1: node3 should not run: {recap}")
        check("Timeout when waiting for 127.0.0.1:%d" % node2.port in output,
              "run 1: node2 should fail waiting for its port")
        check(patched(node1, jar), "run 1: node1's plugins should hold patch0003's jar")
        check(node1.pid() != pids["node1"], "run 1: node1's server should have been restarted")
        healthy(node1, "after run 1")
        check(node3.role_dirs() == [], f"run 1: the role touched node3: {node3.role_dirs()}")
        check(snapshot(node3.home) == node3_before, "run 1: node3's product changed")
        check(node3.pid() == pids["node3"] and port_open(node3.port),
              "run 1: node3's server should be the same process, still answering")
        with open(os.path.join(node1.dir, "etc", "wso2am.toml"), "rb") as f:
            config = tomllib.load(f)
        check(config == {"carbon_home": node1.home, "poll_seconds": 10, "settle_seconds": 1.5,
                         "properties": {"carbon.home": node1.home}},
              f"run 1: node1's configuration: {config}")
        with open(os.path.join(node1.dir, "units", "carbon-patcher@.service")) as f:
            unit = f.read()
        check(f"ExecStart={node1.dir}/bin/carbon-patcher watch --config {node1.dir}/etc/%i.toml\n" in unit,
              "run 1: node1's unit should run its own binary and configuration")

        # 2. node2 fixed: the rollout completes.
        inv = write_inventory(work, nodes, binary, archive, sums, hang=set())
        rc, recap, output = playbook(work, inv, "run2")
        check(rc == 0, f"run 2 should pass (exit {rc})")
        check(recap["node1"]["changed"] == 0, f"run 2: node1 had nothing to do: {recap}")
        check(recap["node2"]["changed"] > 0 and recap["node3"]["changed"] > 0,
              f"run 2: node2 and node3 should change: {recap}")
        # What the role's changed_when reads: the same archive again is no change.
        staged = os.path.join(node1.dir, "staging", PATCH_ZIP)
        again = node1.cp("install", staged, "--sha256", staged + ".sha256")
        check(again.returncode == 0 and again.stdout.startswith(f"already installed: {PATCH}"),
              f"install of the same archive again: exit {again.returncode}: {again.stdout}{again.stderr}")
        for n in nodes:
            check(patched(n, jar), f"run 2: {n.name}'s plugins should hold patch0003's jar")
            healthy(n, "after run 2")
        check(node3.pid() != pids["node3"], "run 2: node3's server should have been restarted")

        # 3. Nothing left to do.
        pids = {n.name: n.pid() for n in nodes}
        rc, recap, output = playbook(work, inv, "run3")
        check(rc == 0, f"run 3 should pass (exit {rc})")
        check(all(recap[n]["changed"] == 0 and recap[n]["failed"] == 0 for n in NODES),
              f"run 3 should change nothing: {recap}")
        for n in nodes:
            check(n.pid() == pids[n.name], f"run 3: {n.name}'s server should not restart")
            healthy(n, "after run 3")

        # 4. A new archive whose checksum does not match: install refuses it on node1 (exit 1,
        # nothing changed) before its server is touched, and the rollout stops there.
        bad = os.path.join(files, "WSO2-CARBON-PATCH-4.4.0-0004.zip")
        shutil.copy(archive, bad)
        with open(bad + ".sha256", "w") as f:
            f.write(f"{'0' * 64}  {os.path.basename(bad)}\n")
        with open(inv) as f:
            inventory = json.load(f)
        inventory["carbon_servers"]["vars"]["carbon_patcher_archives"].append(
            {"archive": bad, "sha256": bad + ".sha256"})
        with open(inv, "w") as f:
            json.dump(inventory, f)
        # (`install` of the archive already installed stages and drops a copy in the patches
        # dir, which moves that dir's mtime.)
        before = {n.name: snapshot(n.home, dir_times=False) for n in nodes}
        rc, recap, output = playbook(work, inv, "run4")
        check(rc != 0, "run 4 should fail on node1's bad checksum")
        check(recap.get("node1", {}).get("failed") == 1 and set(recap) == {"node1"},
              f"run 4: only node1 should run, and fail: {recap}")
        check("WSO2-CARBON-PATCH-4.4.0-0004.zip" in output and "SHA-256" in output,
              "run 4: the failure should name the archive and the checksum")
        for n in nodes:
            check(snapshot(n.home, dir_times=False) == before[n.name],
                  f"run 4: {n.name}'s product changed")
            check(n.pid() == pids[n.name] and port_open(n.port),
                  f"run 4: {n.name}'s server should be the same process, still answering")
    except Failed as e:
        print(output[-12000:], file=sys.stderr)
        print(f"rollout: FAIL: {e} (logs in {work})", file=sys.stderr)
        return 1
    finally:
        for n in nodes:
            n.stop()
    shutil.rmtree(work, ignore_errors=True)
    print(f"rollout: {checks} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
