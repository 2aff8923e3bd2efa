#!/usr/bin/python3
# usb_latency.py — decision latency of hogo-agent's usb source, beside Debian's usbguard,
# both measured by the same harness code.
#
# Under umockdev (usb_testbed.py), N times (10 ms apart): a device's sysfs directory is
# written, t0 is taken, a kernel-format uevent is sent to the daemon's netlink socket, and
# the device's `authorized` attribute is polled (about every 0.1 ms) until the daemon has
# written it (t1). t1 - t0 is the figure, as in ../shared/bench-peers/usbguard_harness.py
# ("from the uevent the daemon acts on"), which it follows. Printed: p50/p90/p99/max for
#   - hogo-agent and usbguard-daemon, a SanDisk stick on a controller whose
#     authorized_default is 1, so that the daemon must write authorized=0;
#   - hogo-agent, a keyboard on a fail-closed controller (it writes authorized=1, then
#     authorizes and probes both interfaces);
# each daemon's VmRSS, and hogo-agent's own recv()-to-write time (status
# decision_latency_usec), which leaves out the harness's sending and polling.
# usbguard runs as usbguard_harness.py runs it (its configuration, in a PID namespace so
# that it accepts the testbed's uevents); that script is found through HOGO_BENCH_PEERS or
# ../shared/bench-peers. The daemon is the copy `scripts/install-deps --bench` (run by
# `make bench`) unpacks from Debian's .debs into build/peers/root, never installed, so no
# usbguard.service is ever enabled; an installed /usr/sbin/usbguard-daemon is the fallback.
#
#   bench/usb_latency.py     USB_BENCH_CYCLES (1000), USB_BENCH_GAP_MS (10),
#                            USB_BENCH_SERIALS=same (one stick replugged), USB_BENCH_SPOOL_DIR,
#                            USB_BENCH_TESTBED_DIR (/dev/shm; "" for $TMPDIR),
#                            USB_BENCH_BASELINE=DIR (a second hogo build, in the same rounds)
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

if "umockdev" not in os.environ.get("LD_PRELOAD", ""):
    os.execvp("umockdev-wrapper", ["umockdev-wrapper", sys.executable] + sys.argv)

SRC = os.environ.get("HOGO_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(SRC, "tests/integration"))
from usb_testbed import FakeUsbKernel, load_recording, block_path, read  # noqa: E402

BUILD = os.environ.get("HOGO_BUILD") or os.path.join(SRC, "build")
CYCLES = int(os.environ.get("USB_BENCH_CYCLES", "1000"))
POLL = 100e-6
# USB_BENCH_SERIALS=same: one stick plugged again and again (its notices rate-limited);
# default: a different serial each time, as usbguard_harness.py does
SERIAL = (lambda i: "4C530001230915104273") if os.environ.get("USB_BENCH_SERIALS") == "same" \
    else (lambda i: f"4C53000{i:05d}")
GAP = float(os.environ.get("USB_BENCH_GAP_MS", "10")) / 1000  # between unplug and the next plug


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def live_children(pid):
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return kids


def cpu_ms(pid):
    """utime+stime of pid (all its threads), and of its children: reaped ones, and live ones
    with everything they reaped (a long-lived notice helper and its workers), in ms."""
    fields = stat_fields(pid)
    tick = os.sysconf("SC_CLK_TCK")
    children = int(fields[13]) + int(fields[14])
    for kid in live_children(pid):
        try:
            k = stat_fields(kid)
            children += int(k[11]) + int(k[12]) + int(k[13]) + int(k[14])
        except (OSError, IndexError):
            pass
    return (int(fields[11]) + int(fields[12])) * 1000 / tick, children * 1000 / tick


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def summary(label, lat):
    if not lat:
        return f"{label}: no samples"
    return (f"{label}: n={len(lat)} p50={pct(lat, 50):.3f} p90={pct(lat, 90):.3f} "
            f"p99={pct(lat, 99):.3f} max={max(lat):.3f} mean={statistics.mean(lat):.3f} ms")


class RawDevice:
    """A device written straight into the testbed's sysfs, with no uevent: the benchmark
    sends the kernel-format uevent itself, so t0 is the moment the event leaves."""

    def __init__(self, k, recording, serial, authorized):
        self.k = k
        dev, _ = load_recording(recording)
        self.devpath = block_path(dev)
        self.dir = k.sys + self.devpath
        self.name = self.devpath.rsplit("/", 1)[1]
        os.makedirs(self.dir, exist_ok=True)
        for line in dev.splitlines():
            if line.startswith("A: "):
                key, _, value = line[3:].partition("=")
                if key == "authorized":
                    value = authorized
                elif key == "serial":
                    value = serial
                p = os.path.join(self.dir, key)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "w") as f:
                    f.write(value + "\n")
            elif line.startswith("H: descriptors="):
                with open(os.path.join(self.dir, "descriptors"), "wb") as f:
                    f.write(bytes.fromhex(line.split("=", 1)[1]))
        with open(os.path.join(self.dir, "uevent"), "w") as f:  # as the kernel writes it
            f.write("".join(l[3:] + "\n" for l in dev.splitlines() if l.startswith("E: ")))
        self.link = os.path.join(k.sys, "bus/usb/devices", self.name)
        if not os.path.islink(self.link):
            os.symlink("../../.." + self.devpath, self.link)
        ids = {l[3:].split("=", 1)[0]: l.split("=", 1)[1] for l in dev.splitlines() if l.startswith("E: ")}
        self.props = {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device", "PRODUCT": ids.get("PRODUCT", ""),
                      "TYPE": "0/0/0", "BUSNUM": ids.get("BUSNUM", "001"), "DEVNUM": ids.get("DEVNUM", "002")}

    def add(self):
        self.k.send_kernel_uevent("add", self.devpath, self.props)

    def remove(self):
        self.k.send_kernel_uevent("remove", self.devpath, self.props)
        os.unlink(self.link)
        shutil.rmtree(self.dir)


def measure(k, recording, want, authorized_before, hub_default):
    k.set_hub_attr("usb1", "authorized_default", hub_default)
    lat, missed = [], 0
    for i in range(CYCLES):
        d = RawDevice(k, recording, SERIAL(i), authorized_before)
        auth = os.path.join(d.dir, "authorized")
        t0 = time.monotonic_ns()
        d.add()
        sent = time.monotonic_ns()
        deadline = t0 + 2_000_000_000
        ok, gap, last = False, 0, sent
        while True:
            now = time.monotonic_ns()
            gap, last = max(gap, now - last), now
            # the last look comes after the deadline, so that a harness that overslept
            # does not count a written attribute as a miss
            if read(auth) == want:
                ok = True
                break
            if now >= deadline:
                break
            time.sleep(POLL)
        t1 = time.monotonic_ns()
        if ok:
            lat.append((t1 - t0) / 1e6)
        else:
            missed += 1
            # written later, or never (the event lost)? and how long the harness itself
            # went without polling
            late = next((time.monotonic_ns() for _ in range(3000) if read(auth) == want or
                         time.sleep(0.001)), None)
            print(f"MISS plug {i}: sending took {(sent - t0) / 1e6:.1f} ms, longest gap between "
                  f"polls {gap / 1e6:.1f} ms, " +
                  (f"written {(late - t0) / 1e6:.0f} ms after the uevent" if late else
                   "still not written 5 s after the uevent"), flush=True)
            if missed >= 3 and not lat:
                break
        d.remove()
        time.sleep(GAP)
    return lat, missed


def samples(label, lat, missed):
    print("SAMPLES " + json.dumps({"label": label, "lat": lat, "missed": missed}), flush=True)


def run_hogo(build=BUILD, name="hogo-agent"):
    # USB_BENCH_SPOOL_DIR: where the agent's spool (and its fdatasync) lives; default $TMPDIR
    work = tempfile.mkdtemp(prefix="hogo-usb-bench.", dir=os.environ.get("USB_BENCH_SPOOL_DIR"))
    k = FakeUsbKernel()
    config = os.path.join(work, "agent.json")
    with open(config, "w") as f:
        json.dump({"spool_dir": os.path.join(work, "spool"), "policy_dir": os.path.join(work, "policy"),
                   "policy_pubkey": os.path.join(work, "none.pub"), "state_dir": os.path.join(work, "state"),
                   "control_socket": os.path.join(work, "agent.sock"),
                   "notify": {"fallback": "none"}, "log_level": "warning", "sysfs_root": "/"}, f)
    log = open(os.path.join(work, "agent.log"), "w")
    wrap = os.environ.get("USB_BENCH_WRAP", "").split()
    agent = subprocess.Popen(wrap + [os.path.join(build, "hogo-agent"), "-c", config, "-d"], stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        if not k.wait(lambda: k.hub_attr("usb1", "authorized_default") == "0", 10):
            print("hogo-agent did not start; see", os.path.join(work, "agent.log"))
            return 1
        time.sleep(1.0)
        rss0 = vmrss_kb(agent.pid)
        cpu0 = cpu_ms(agent.pid)
        lat, missed = measure(k, "stick", "0", "1", "1")
        cpu1 = cpu_ms(agent.pid)
        print(f"CPU {name} {cpu1[0] - cpu0[0]:.0f} {cpu1[1] - cpu0[1]:.0f} {len(lat) + missed}")
        samples(f"{name}, stick: uevent to authorized=0", lat, missed)
        lat, missed = measure(k, "keyboard", "1", "0", "0")
        samples(f"{name}, keyboard: uevent to authorized=1", lat, missed)
        print(f"RSS {name} {rss0} {vmrss_kb(agent.pid)}")
        r = subprocess.run([os.path.join(build, "hogoctl"), "status", "--json", "--socket",
                            os.path.join(work, "agent.sock")], capture_output=True, text=True)
        try:
            lat = json.loads(r.stdout)["sources"]["usb"]["decision_latency_usec"]
            print(f"OWN {name}'s own recv()-to-write time, last {lat['n']}: p50={lat['p50'] / 1000:.3f} p99={lat['p99'] / 1000:.3f} "
                  f"max={lat['max'] / 1000:.3f} ms")
        except (ValueError, KeyError):
            pass
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def peer_harness():
    peers = os.environ.get("HOGO_BENCH_PEERS")
    for c in ([peers] if peers else [os.path.join(SRC, "../shared/bench-peers"),
                                     os.path.join(SRC, "../../shared/bench-peers")]):
        if c and os.path.exists(os.path.join(c, "usbguard_harness.py")):
            return os.path.join(c, "usbguard_harness.py")
    return None


# usbguard as scripts/install-deps --bench leaves it: Debian's .debs unpacked, not installed
PEERS = os.environ.get("HOGO_PEERS_DIR") or os.path.join(SRC, "build/peers")


def usbguard_daemon(k):
    """The usbguard-daemon to measure and the environment it runs in: the unpacked copy
    under build/peers/root (its libusbguard beside it), else an installed one. umockdev sets
    UMOCKDEV_DIR in the C environment only, so it is passed on explicitly."""
    env = dict(os.environ, UMOCKDEV_DIR=k.tb.get_root_dir())
    root = os.path.join(PEERS, "root")
    daemon = os.path.join(root, "usr/sbin/usbguard-daemon")
    if os.access(daemon, os.X_OK):
        libs = os.path.join(root, "usr/lib/x86_64-linux-gnu")
        env["LD_LIBRARY_PATH"] = ":".join(p for p in (libs, os.environ.get("LD_LIBRARY_PATH")) if p)
        return daemon, env
    if os.access("/usr/sbin/usbguard-daemon", os.X_OK):
        return "/usr/sbin/usbguard-daemon", env
    return None, None


def run_usbguard():
    harness = peer_harness()
    if not harness:
        print("usbguard: ../shared/bench-peers/usbguard_harness.py not found (set HOGO_BENCH_PEERS); skipped")
        return 0
    import importlib.util
    spec = importlib.util.spec_from_file_location("usbguard_harness", harness)
    ug = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ug)  # its main() is not run

    work = tempfile.mkdtemp(prefix="hogo-usbguard-bench.")
    k = FakeUsbKernel()
    daemon, env = usbguard_daemon(k)
    if not daemon:
        print(f"usbguard: not found in {PEERS} (scripts/install-deps --bench unpacks it there, "
              "`make bench` runs it); skipped")
        return 0
    conf = ug.write_conf(os.path.join(work, "ug"), "uevent")
    log = open(os.path.join(work, "daemon.log"), "w")
    # a process group of its own, so that nothing of it outlives this round (a daemon left
    # running keeps its IPC socket and the next round's daemon cannot start)
    proc = subprocess.Popen(["unshare", "-p", "-f", "--kill-child", daemon, "-k", "-P", "-c", conf],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        pid = ug.daemon_pid(proc, "pidns")
        time.sleep(2.0)
        if proc.poll() is not None:
            with open(os.path.join(work, "daemon.log")) as f:
                print("usbguard-daemon exited: " + f.read()[-1500:].replace("\n", "\n  "))
            return 1
        rss0 = vmrss_kb(pid)
        cpu0 = cpu_ms(pid)
        lat, missed = measure(k, "stick", "0", "1", "1")
        cpu1 = cpu_ms(pid)
        print(f"CPU usbguard-daemon {cpu1[0] - cpu0[0]:.0f} {cpu1[1] - cpu0[1]:.0f} {len(lat) + missed}")
        samples("usbguard-daemon, stick: uevent to authorized=0", lat, missed)
        print(f"PEER {daemon}")
        print(f"RSS usbguard-daemon {rss0} {vmrss_kb(pid)}")
        if not lat:
            with open(os.path.join(work, "daemon.log")) as f:
                print("  usbguard log: " + f.read()[-1500:].replace("\n", "\n  "))
    finally:
        try:
            os.kill(ug.daemon_pid(proc, "pidns"), signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


ROUNDS = int(os.environ.get("USB_BENCH_ROUNDS", "4"))
# USB_BENCH_BASELINE=DIR: another build of hogo (e.g. main's build/) measured in the same
# rounds, to judge a change to the agent side by side
BASELINE = os.environ.get("USB_BENCH_BASELINE")


def main():
    # One testbed per process: each daemon is measured by a fresh run of this script, and
    # the daemons take turns (ROUNDS rounds of CYCLES / ROUNDS plugs each) so that a change
    # in the machine's load during the run falls on both alike.
    if len(sys.argv) > 1:
        return {"hogo": run_hogo, "usbguard": run_usbguard,
                "baseline": lambda: run_hogo(BASELINE, "hogo-agent (baseline)")}[sys.argv[1]]()
    per_round = max(1, CYCLES // ROUNDS)
    # The testbed (umockdev's sysfs) on a tmpfs of its own, as sysfs is a mount of its own: on
    # the root file system every poll of `authorized` is an open the agent's files source is
    # told about (it marks the mount of the data directories), and ext4 writes a truncated
    # and rewritten attribute back at close; neither happens with the real sysfs. The spool
    # stays on disk (USB_BENCH_SPOOL_DIR, default the usual temporary directory).
    env = dict(os.environ, USB_BENCH_CYCLES=str(per_round))
    env.setdefault("USB_BENCH_SPOOL_DIR", tempfile.gettempdir())
    testbed_dir = os.environ.get("USB_BENCH_TESTBED_DIR", "/dev/shm")
    if testbed_dir and os.path.isdir(testbed_dir):
        env["TMPDIR"] = testbed_dir
    print(f"USB decision latency: {per_round * ROUNDS} plug events per daemon and device, in {ROUNDS} "
          f"alternating rounds; polling about every 0.1 ms; testbed in {env.get('TMPDIR', '$TMPDIR')}, "
          f"hogo-agent's spool in {env['USB_BENCH_SPOOL_DIR']}; load average {os.getloadavg()[0]:.1f}")
    lat, missed, rss, own, peer, cpu, rc = {}, {}, {}, [], set(), {}, 0
    for _ in range(ROUNDS):
        for daemon in ("hogo", "usbguard") + (("baseline",) if BASELINE else ()):
            r = subprocess.run([sys.executable, os.path.abspath(__file__), daemon], capture_output=True,
                               text=True, env=env)
            rc |= r.returncode
            for line in r.stdout.splitlines():
                if line.startswith("SAMPLES "):
                    d = json.loads(line[8:])
                    lat.setdefault(d["label"], []).extend(d["lat"])
                    missed[d["label"]] = missed.get(d["label"], 0) + d["missed"]
                elif line.startswith("RSS "):
                    name, start, end = line[4:].rsplit(" ", 2)
                    rss.setdefault(name, []).append((int(start), int(end)))
                elif line.startswith("OWN "):
                    own.append(line[4:])
                elif line.startswith("CPU "):
                    name, own_ms, children_ms, plugs = line[4:].rsplit(" ", 3)
                    c = cpu.setdefault(name, [0.0, 0.0, 0])
                    c[0], c[1], c[2] = c[0] + float(own_ms), c[1] + float(children_ms), c[2] + int(plugs)
                elif line.startswith("PEER "):
                    peer.add(line[5:])
                else:
                    print(f"[{daemon}] {line}")
    for label in lat:
        print(f"{summary(label, lat[label])} missed={missed[label]}")
    for name, v in rss.items():
        print(f"{name} VmRSS after start: {min(s for s, _ in v)}-{max(s for s, _ in v)} kB, "
              f"after its plugs: {min(e for _, e in v)}-{max(e for _, e in v)} kB")
    for name, (own_ms, children_ms, plugs) in cpu.items():
        print(f"{name} CPU time (utime+stime) per stick plug: {own_ms / max(plugs, 1):.3f} ms"
              + (f", {children_ms / max(plugs, 1):.3f} ms more in its notice processes"
                 if children_ms else ""))
    for o in own:
        print(o)
    for p in sorted(peer):
        print(f"usbguard-daemon measured: {p}")
    print("target (issue 6): hogo-agent's stick p99 at or below usbguard-daemon's, its VmRSS below")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
