# agent_harness.py — shared by the agent_* integration tests (not a test itself).
#
# Starts private D-Bus daemons from private-bus.conf, writes an agent configuration,
# signs policies with `hogoctl policy`, runs the real hogo-agent, asks it with
# `hogoctl status --json`, and reads the events it spooled (the record format of
# agent/spool.h: u32 length LE | u32 CRC32C LE | event JSON).
import glob
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("HOGO_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("HOGO_BUILD") or os.path.join(SRC, "build")
HOGOCTL = os.path.join(BUILD, "hogoctl")
AGENT = os.path.join(BUILD, "hogo-agent")

failures = 0


def ok(name):
    print(f"ok - {name}", flush=True)


def fail(name, detail=""):
    global failures
    failures += 1
    print(f"not ok - {name}", flush=True)
    if detail:
        print("# " + str(detail).replace("\n", "\n# "), flush=True)


def check(name, cond, detail=""):
    if cond:
        ok(name)
    else:
        fail(name, detail)
    return cond


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def finish():
    sys.exit(1 if failures else 0)


class Scratch:
    """A scratch directory, world-readable so that a user-level helper can reach sockets."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="hogo-agent-it.")
        os.chmod(self.path, 0o755)
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.path, ignore_errors=True)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p


def start_bus(scratch, name):
    """A private dbus-daemon; returns its address."""
    sock = scratch.join(name + ".sock")
    address = "unix:path=" + sock
    with open(os.path.join(SRC, "tests/integration/private-bus.conf")) as f:
        template = f.read()
    conf = scratch.join(name + "-bus.conf")
    with open(conf, "w") as f:
        f.write(template.replace("@LISTEN@", address))
    scratch.spawn(["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile",
                   "--nosyslog"], stdout=subprocess.DEVNULL)
    if not wait_for(lambda: os.path.exists(sock), 10):
        raise RuntimeError("private dbus-daemon did not start")
    os.chmod(sock, 0o777)
    return address


def dbusmock(scratch, bus_env, address, template):
    """A python3-dbusmock template on the bus at address (bus_env says which bus)."""
    env = dict(os.environ, **{bus_env: address})
    args = ["/usr/bin/python3", "-m", "dbusmock", "--template", template]
    if bus_env == "DBUS_SYSTEM_BUS_ADDRESS":
        args.insert(3, "--system")
    return scratch.spawn(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_name(address, name):
    """Waits until name has an owner on the bus at address."""
    import dbus

    def up():
        try:
            return dbus.bus.BusConnection(address).name_has_owner(name)
        except dbus.DBusException:
            return False
    return wait_for(up, 15)


def keygen(scratch):
    keys = scratch.join("keys")
    subprocess.run([HOGOCTL, "policy", "keygen", "--out", keys], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(keys, "policy-signing.key"), os.path.join(keys, "policy-signing.pub")


def example_policy(version, **changes):
    with open(os.path.join(SRC, "policy/examples/strict-default.json")) as f:
        p = json.load(f)
    p["version"] = version
    p["name"] = f"test-v{version}"
    for k, v in changes.items():
        p[k] = v
    return p


def sign(scratch, key, policy, name):
    """The signed envelope text of a policy dict."""
    src = scratch.join(name + ".json")
    with open(src, "w") as f:
        json.dump(policy, f)
    out = subprocess.run([HOGOCTL, "policy", "sign", "--key", key, src], check=True,
                         capture_output=True, text=True)
    return out.stdout


def drop_policy(policy_dir, text):
    """As the uplink does: a temporary name in the same directory, then rename."""
    os.makedirs(policy_dir, exist_ok=True)
    tmp = os.path.join(policy_dir, ".policy.json.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(policy_dir, "policy.json"))


def write_config(scratch, pubkey, **extra):
    cfg = {
        "spool_dir": scratch.join("spool"),
        "policy_dir": scratch.join("policy"),
        "policy_pubkey": pubkey,
        "state_dir": scratch.join("state"),
        "control_socket": scratch.join("agent.sock"),
        "posture_file": scratch.join("posture.json"),
        # the desktop settings the session source writes (/etc/dconf): never the host's
        "desktop_root": scratch.path,
        "notify": {"contact": "情報政策課 (内線 1234)",
                   "session_bus_address": "unix:path=" + scratch.join("session.sock"),
                   "locale_dir": os.path.join(BUILD, "locale")},
        "log_level": "debug",
    }
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k].update(v)
        else:
            cfg[k] = v
    path = scratch.join("agent.json")
    with open(path, "w") as f:
        json.dump(cfg, f, ensure_ascii=False)
    return path, cfg


def control(cfg, request):
    """One request on the agent's control socket, its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(5)
        c.connect(cfg["control_socket"])
        c.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


class Agent:
    def __init__(self, scratch, config_path, cfg, system_bus, env_extra=None):
        self.scratch, self.cfg = scratch, cfg
        self.log = scratch.join("agent.log")
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=system_bus)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(k, None)
        env.update(env_extra or {})
        self.proc = scratch.spawn([AGENT, "-d", "-c", config_path], env=env,
                                  stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(cfg["control_socket"]) or self.proc.poll() is not None, 15):
            raise RuntimeError("agent did not open its control socket")
        if self.proc.poll() is not None:
            raise RuntimeError("agent exited: " + self.log_text())

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def status(self):
        out = subprocess.run([HOGOCTL, "status", "--json", "--socket", self.cfg["control_socket"]],
                             capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            raise RuntimeError("hogoctl status failed: " + out.stderr)
        return json.loads(out.stdout)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def dump_if_failed(self):
        """The agent's log into the test's output when something failed, for diagnosis."""
        if failures:
            for line in self.log_text().splitlines()[-80:]:
                print("# agent: " + line)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def spool_events(spool_dir):
    """Every event record in the spool, in file order (tombstones and all)."""
    events = []
    for seg in sorted(glob.glob(os.path.join(spool_dir, "seg-*.log"))):
        with open(seg, "rb") as f:
            data = f.read()
        off = 0
        while off + 8 <= len(data):
            length, _crc = struct.unpack_from("<II", data, off)
            payload = data[off + 8: off + 8 + length]
            if len(payload) < length:
                break
            try:
                events.append(json.loads(payload))
            except ValueError:
                pass
            off += 8 + length
    return events


def events_of(spool_dir, type_):
    return [e for e in spool_events(spool_dir) if e.get("type") == type_]
