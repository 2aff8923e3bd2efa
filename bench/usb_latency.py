#!/usr/bin/python3
# usb_latency.py — decision latency of hogo-agent's usb source, beside Debian's usbguard.
#
# Under umockdev (usb_testbed.py), N times (10 ms apart, as usbguard_harness.py does): a device's sysfs directory is written, then a
# kernel-format uevent is sent to the agent's netlink socket (t0), and the `authorized`
# attribute is polled (about every 0.1 ms) until the agent has written it (t1). Printed:
# p50/p90/p99/max of t1 - t0 for
#   - a SanDisk stick on a controller whose authorized_default is 1 (the agent must write
#     authorized=0): the figure usbguard's harness measures;
#   - a keyboard on a fail-closed controller (the agent must write authorized=1 and then
#     authorize and probe both interfaces; time to the device write);
# and the agent's VmRSS. Then the same run starts ../shared/bench-peers/usbguard_harness.py
# (usbguard-daemon on its own testbed, same stick, same polling) and prints its figures.
#
#   bench/usb_latency.py            (USB_BENCH_CYCLES=1000, HOGO_BENCH_PEERS=<dir>)
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
        self.link = os.path.join(k.sys, "bus/usb/devices", self.name)
        if not os.path.islink(self.link):
            os.symlink("../../.." + self.devpath, self.link)
        self.props = {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device"}

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
        deadline = t0 + 2_000_000_000
        ok = False
        while time.monotonic_ns() < deadline:
            if read(auth) == want:
                ok = True
                break
            time.sleep(POLL)
        t1 = time.monotonic_ns()
        if ok:
            lat.append((t1 - t0) / 1e6)
        else:
            missed += 1
            if missed >= 3 and not lat:
                break
        d.remove()
        time.sleep(GAP)
    return lat, missed


def run_hogo():
    work = tempfile.mkdtemp(prefix="hogo-usb-bench.")
    k = FakeUsbKernel()
    config = os.path.join(work, "agent.json")
    with open(config, "w") as f:
        json.dump({"spool_dir": os.path.join(work, "spool"), "policy_dir": os.path.join(work, "policy"),
                   "policy_pubkey": os.path.join(work, "none.pub"), "state_dir": os.path.join(work, "state"),
                   "control_socket": os.path.join(work, "agent.sock"),
                   "notify": {"fallback": "none"}, "log_level": "warning", "sysfs_root": "/"}, f)
    log = open(os.path.join(work, "agent.log"), "w")
    wrap = os.environ.get("USB_BENCH_WRAP", "").split()
    agent = subprocess.Popen(wrap + [os.path.join(BUILD, "hogo-agent"), "-c", config, "-d"], stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        if not k.wait(lambda: k.hub_attr("usb1", "authorized_default") == "0", 10):
            print("hogo-agent did not start; see", os.path.join(work, "agent.log"))
            return 1
        time.sleep(1.0)
        rss0 = vmrss_kb(agent.pid)
        print(f"hogo-agent pid={agent.pid} VmRSS_after_start_kB={rss0}")
        lat, missed = measure(k, "stick", "0", "1", "1")
        print(f"stick on a permissive controller (agent writes authorized=0): missed={missed}")
        print("  " + summary("latency from the uevent to authorized=0", lat))
        lat, missed = measure(k, "keyboard", "1", "0", "0")
        print(f"keyboard on a fail-closed controller (agent writes authorized=1): missed={missed}")
        print("  " + summary("latency from the uevent to authorized=1", lat))
        print(f"hogo-agent VmRSS_kB start={rss0} end={vmrss_kb(agent.pid)}")
        r = subprocess.run([os.path.join(BUILD, "hogoctl"), "status", "--json", "--socket",
                            os.path.join(work, "agent.sock")], capture_output=True, text=True)
        try:
            lat = json.loads(r.stdout)["sources"]["usb"]["decision_latency_usec"]
            print(f"  the agent's own view, recv() to the authorized write, last {lat['n']}: "
                  f"p50={lat['p50'] / 1000:.3f} p99={lat['p99'] / 1000:.3f} max={lat['max'] / 1000:.3f} ms")
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


def run_usbguard():
    peers = os.environ.get("HOGO_BENCH_PEERS")
    candidates = [peers] if peers else [os.path.join(SRC, "../shared/bench-peers"),
                                        os.path.join(SRC, "../../shared/bench-peers")]
    harness = next((os.path.join(c, "usbguard_harness.py") for c in candidates
                    if c and os.path.exists(os.path.join(c, "usbguard_harness.py"))), None)
    if not harness:
        print("usbguard: peer harness not found (set HOGO_BENCH_PEERS); skipped")
        return 0
    if not os.path.exists("/usr/sbin/usbguard-daemon"):
        print("usbguard: not installed (apt-get install usbguard; note that the package enables "
              "usbguard.service on a systemd machine); skipped")
        return 0
    work = tempfile.mkdtemp(prefix="hogo-usbguard-bench.")
    env = dict(os.environ, TMPDIR=work)
    env.pop("LD_PRELOAD", None)  # the harness makes its own testbed under its own wrapper
    try:
        r = subprocess.run(["umockdev-wrapper", "/usr/bin/python3", harness, "--mode", "pidns",
                            "--kernel-format", "--cycles", str(CYCLES), "--workdir",
                            os.path.join(work, "ug")], capture_output=True, text=True, env=env,
                           timeout=1800)
        for line in r.stdout.splitlines():
            if line.startswith(("daemon pid", "cycles=", "latency_ms", "daemon VmRSS")):
                print("  " + line)
        return r.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    print(f"USB decision latency, {CYCLES} plug events each, polling about every 0.1 ms")
    print("--- hogo-agent")
    rc = run_hogo()
    print("--- usbguard-daemon (../shared/bench-peers/usbguard_harness.py, same stick)")
    rc |= run_usbguard()
    return rc


if __name__ == "__main__":
    sys.exit(main())
