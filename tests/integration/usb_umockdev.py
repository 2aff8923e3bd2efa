#!/usr/bin/python3
# usb_umockdev.py — the real hogo-agent against a umockdev testbed of USB devices.
# timeout: 180
#
# Plugs the recorded devices of tests/usb/ into a fake xHCI controller (usb_testbed.py
# plays the kernel's authorization) and checks, for each, the `authorized` attributes of
# the device and its interfaces, the names the agent wrote to drivers_probe, and the
# events in the agent's spool. Then: a new policy registering a stick read-only, a policy
# taking a present device away, garbage descriptors, a vanished device, a sysfs write that
# fails, devices present before the agent starts, and the defaults surviving the agent.
# Last, with the agent started again: a registration and an exception whose valid_until
# (a UTC instant) passes a few seconds after the policy is applied take their sticks away at
# that instant, with no new policy or plug, and a stick plugged afterwards stays blocked.
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

if "umockdev" not in os.environ.get("LD_PRELOAD", ""):
    os.execvp("umockdev-wrapper", ["umockdev-wrapper", sys.executable] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_harness import spool_events as read_spool  # noqa: E402
from usb_testbed import SRC, FakeUsbKernel  # noqa: E402

BUILD = os.environ.get("HOGO_BUILD") or os.path.join(SRC, "build")
AGENT = os.path.join(BUILD, "hogo-agent")
HOGOCTL = os.environ.get("HOGOCTL") or os.path.join(BUILD, "hogoctl")

failures = 0


def check(name, cond, detail=""):
    global failures
    if cond:
        print(f"ok - {name}", flush=True)
    else:
        failures += 1
        print(f"not ok - {name}", flush=True)
        if detail:
            print("# " + str(detail).replace("\n", "\n# "), flush=True)
    return cond


class Agent:
    def __init__(self, work, kernel):
        self.work = work
        self.kernel = kernel
        self.spool = os.path.join(work, "spool")
        self.policy_dir = os.path.join(work, "policy")
        self.keys = os.path.join(work, "keys")
        os.makedirs(self.policy_dir, exist_ok=True)
        subprocess.run([HOGOCTL, "policy", "keygen", "--out", self.keys], check=True,
                       stdout=subprocess.DEVNULL)
        self.config = os.path.join(work, "agent.json")
        with open(self.config, "w") as f:
            json.dump({
                "spool_dir": self.spool,
                "policy_dir": self.policy_dir,
                "policy_pubkey": os.path.join(self.keys, "policy-signing.pub"),
                "state_dir": os.path.join(work, "state"),
                "control_socket": os.path.join(work, "agent.sock"),
                "posture_file": os.path.join(work, "posture.json"),
                "notify": {"contact": "情報政策課 (内線 1234)", "fallback": "none"},
                "log_level": "debug",
                "sysfs_root": "/",
                "desktop_root": work,
            }, f)
        self.proc = None
        self.seen = 0
        # seconds from a signed policy landing in policy_dir to the agent's event about it,
        # measured in this run: the yardstick for how late this machine lets the agent act
        self.reaction = None

    def start(self):
        self.log = open(os.path.join(self.work, "agent.log"), "a")
        self.proc = subprocess.Popen([AGENT, "-c", self.config, "-d"], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.kernel.hold_pids = [self.proc.pid]

    def stop(self):
        self.kernel.hold_pids = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def events(self):
        return [e for e in read_spool(self.spool) if e["type"].startswith("usb.")]

    def next_event(self, port, timeout=15.0):
        """The first usb.* event about port after the ones already taken (the timeout only
        bounds a failure: a loaded machine may take seconds)."""
        def find():
            for i, e in enumerate(self.events()):
                if i >= self.seen and e["details"].get("port") == port:
                    self.seen = i + 1
                    return e
            return None
        return self.kernel.wait(find, timeout)

    def push_policy(self, policy):
        src = os.path.join(self.work, "policy-src.json")
        with open(src, "w") as f:
            json.dump(policy, f, ensure_ascii=False)
        subprocess.run([HOGOCTL, "policy", "sign", "--key",
                        os.path.join(self.keys, "policy-signing.key"), "--out",
                        os.path.join(self.policy_dir, "policy.json"), src], check=True,
                       stdout=subprocess.DEVNULL)

    def status(self):
        r = subprocess.run([HOGOCTL, "status", "--json", "--socket",
                            os.path.join(self.work, "agent.sock")], capture_output=True, text=True)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None


def policy(version, **removable_media):
    with open(os.path.join(SRC, "policy/examples/strict-default.json")) as f:
        p = json.load(f)
    p["version"] = version
    p["name"] = f"usb-test-v{version}"
    p["removable_media"].update(removable_media)
    return p


KINGSTON = {"vendor": "0951", "product": "1666", "serial": "60A44C3FAE57B0B1A9F2001F",
            "registration_no": "総務-2026-014", "holder": "総務課", "valid_until": "2099-03-31"}


def interfaces_of(event):
    return {i["interface"]: i for i in event["details"].get("interfaces", [])}


def main():
    work = tempfile.mkdtemp(prefix="hogo-usb-it.")
    k = FakeUsbKernel()
    a = Agent(work, k)
    try:
        run(k, a)
    finally:
        a.stop()
        if failures:
            with open(os.path.join(work, "agent.log"), errors="replace") as f:
                print("# agent log (last lines):\n# " + "# ".join(f.readlines()[-60:]))
        subprocess.run(["rm", "-rf", work])
    return 1 if failures else 0


def run(k, a):
    # A stick plugged while the agent is not running yet, into a permissive controller:
    # the kernel authorizes it and binds its storage.
    early = k.plug("stick", hub="usb2")
    check("before the agent: the stick came in authorized", k.attr(early, "authorized") == "1")

    a.start()
    ok = k.wait(lambda: all(k.hub_attr(h, "authorized_default") == "0" and
                            k.hub_attr(h, "interface_authorized_default") == "0"
                            for h in ("usb1", "usb2")), 10)
    check("fail-closed defaults on every root hub at start", ok,
          {h: (k.hub_attr(h, "authorized_default"), k.hub_attr(h, "interface_authorized_default"))
           for h in ("usb1", "usb2")})
    ev = a.next_event(early)
    check("present stick re-evaluated at start: usb.blocked", ev and ev["type"] == "usb.blocked", ev)
    check("present stick deauthorized at start", k.wait(lambda: k.attr(early, "authorized") == "0"))
    k.unplug(early)
    ev = a.next_event(early)
    check("unplug: usb.removed", ev and ev["type"] == "usb.removed", ev)

    # --- the strict built-in policy ---
    stick = k.plug("stick")
    ev = a.next_event(stick)
    check("stick: usb.blocked", ev and ev["type"] == "usb.blocked", ev)
    if ev:
        d = ev["details"]
        check("stick event: vendor, product, serial, port, rule, classes",
              d.get("vendor") == "0781" and d.get("product") == "5581" and
              d.get("serial") == "4C530001230915104273" and d.get("port") == stick and
              d.get("rule") == "removable_media.mode" and
              interfaces_of(ev).get("1.0", {}).get("class") == "08/06/50", d)
        check("stick event: warning severity", ev["severity"] == "warning", ev["severity"])
    k.pump(0.3)
    check("stick stays unauthorized", k.attr(stick, "authorized") == "0")
    check("stick: no interface exists, nothing probed",
          not os.path.exists(k.path(k.devices[stick].devpath + f"/{stick}:1.0")) and
          not [n for n in k.probed if n.startswith(stick + ":")])

    notices = [e for e in read_spool(a.spool) if e["type"] == "agent.notice_fallback"]
    check("stick: a notice to staff was attempted (no session here: recorded as fallback)",
          any(n["details"].get("notice_kind") == "usb_blocked" and
              n["details"].get("rule") == "記録機能を有する機器の接続制限" for n in notices), notices)

    kbd = k.plug("keyboard")
    ev = a.next_event(kbd)
    check("keyboard: usb.allowed by class", ev and ev["type"] == "usb.allowed" and
          ev["details"].get("rule") == "class", ev)
    ok = k.wait(lambda: k.attr(kbd, "authorized") == "1" and
                k.attr(f"{kbd}:1.0", "authorized") == "1" and
                k.attr(f"{kbd}:1.1", "authorized") == "1")
    check("keyboard: device and both interfaces authorized", ok,
          [k.attr(kbd, "authorized"), k.attr(f"{kbd}:1.0", "authorized"), k.attr(f"{kbd}:1.1", "authorized")])
    check("keyboard: both interfaces written to drivers_probe",
          k.wait(lambda: {f"{kbd}:1.0", f"{kbd}:1.1"} <= set(k.probed)), k.probed)

    for rec, what in (("phone-mtp", "phone in MTP mode"), ("phone-adb", "phone with USB debugging")):
        port = k.plug(rec)
        ev = a.next_event(port)
        check(f"{what}: usb.blocked", ev and ev["type"] == "usb.blocked", ev)
        k.pump(0.2)
        check(f"{what}: stays unauthorized", k.attr(port, "authorized") == "0")
        if ev:
            funcs = sorted(i["function"] for i in ev["details"]["interfaces"])
            check(f"{what}: interface functions named", funcs ==
                  (["phone_mtp"] if rec == "phone-mtp" else ["phone_adb", "still_image"]), funcs)

    combo = k.plug("composite")
    ev = a.next_event(combo)
    check("composite: usb.blocked (storage part)", ev and ev["type"] == "usb.blocked", ev)
    ok = k.wait(lambda: k.attr(combo, "authorized") == "1" and
                k.attr(f"{combo}:1.0", "authorized") == "1" and f"{combo}:1.0" in k.probed)
    check("composite: keyboard interface authorized and probed", ok)
    k.pump(0.2)
    check("composite: storage interface stays unauthorized, never probed",
          k.attr(f"{combo}:1.1", "authorized") == "0" and f"{combo}:1.1" not in k.probed,
          (k.attr(f"{combo}:1.1", "authorized"), k.probed))
    if ev:
        i = interfaces_of(ev)
        check("composite event: per-interface verdicts",
              i.get("1.0", {}).get("authorized") is True and i.get("1.1", {}).get("authorized") is False, i)

    hub = k.plug("hub")
    ev = a.next_event(hub)
    check("hub: usb.allowed", ev and ev["type"] == "usb.allowed", ev)
    check("hub: authorized", k.wait(lambda: k.attr(hub, "authorized") == "1"))

    reg = k.plug("registered-stick")
    ev = a.next_event(reg)
    check("unregistered Kingston stick: usb.blocked", ev and ev["type"] == "usb.blocked", ev)

    # --- bad input ---
    bad = k.plug("stick", hub="usb2", descriptors="12010002000000408107815500010102030109022000")
    ev = a.next_event(bad)
    check("truncated descriptors: usb.blocked with rule descriptors",
          ev and ev["type"] == "usb.blocked" and ev["details"].get("rule") == "descriptors" and
          "error" in ev["details"], ev)
    k.pump(0.2)
    check("truncated descriptors: stays unauthorized", k.attr(bad, "authorized") == "0")
    k.unplug(bad)
    a.next_event(bad)
    nodesc = k.plug("stick", hub="usb2", descriptors="")
    ev = a.next_event(nodesc)
    check("missing descriptors file: usb.blocked", ev and ev["type"] == "usb.blocked" and
          ev["details"].get("rule") == "descriptors", ev)
    check("missing descriptors file: stays unauthorized", k.attr(nodesc, "authorized") == "0")
    k.unplug(nodesc)
    a.next_event(nodesc)

    k.send_kernel_uevent("add", "/devices/pci0000:00/0000:00:14.0/usb1/1-9",
                         {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device"})
    k.pump(0.3)
    st = a.status()
    usb = (st or {}).get("sources", {}).get("usb", {})
    check("vanished device (kernel-format uevent): agent alive, error counted",
          a.proc.poll() is None and usb.get("errors", 0) >= 1, usb)

    # a keyboard whose first interface cannot be authorized (sysfs write fails)
    kbd2 = k.plug("keyboard", hub="usb2", unwritable=("1.0",))
    evs = [a.next_event(kbd2), a.next_event(kbd2)]
    blocked = [e for e in evs if e and e["type"] == "usb.blocked"]
    check("sysfs write failure: usb.blocked with the error",
          blocked and "authorize interface" in blocked[0]["details"].get("enforcement_error", ""), evs)
    k.pump(0.2)
    check("sysfs write failure: that interface never probed, the other one is",
          f"{kbd2}:1.0" not in k.probed and f"{kbd2}:1.1" in k.probed, k.probed)
    k.unplug(kbd2)
    a.next_event(kbd2)

    # --- register the Kingston stick from this terminal, as an IT team would ---
    r = subprocess.run([HOGOCTL, "media", "register", "--department", "総務課"],
                       capture_output=True, text=True)
    check("media register with several sticks plugged: asks for --port",
          r.returncode == 2 and f"--port {reg}" in r.stderr, r.stdout + r.stderr)
    r = subprocess.run([HOGOCTL, "media", "register", "--department", "総務課", "--port", reg,
                        "--access", "read_only", "--registration-no", "総務-2026-014"],
                       capture_output=True, text=True)
    try:
        entry = json.loads(r.stdout)
    except ValueError:
        entry = {}
    check("media register: the allowlist entry with the stick's serial",
          r.returncode == 0 and entry.get("serial") == KINGSTON["serial"] and
          entry.get("vendor") == "0951" and entry.get("product") == "1666" and
          entry.get("holder") == "総務課" and entry.get("access") == "read_only" and
          entry.get("valid_until", "").endswith("-03-31"), r.stdout + r.stderr)

    # --- a new policy with that entry: the Kingston stick registered read-only ---
    pushed = time.monotonic()
    a.push_policy(policy(2, allow=[entry or dict(KINGSTON, access="read_only")]))
    ev = a.next_event(reg, timeout=20)
    a.reaction = time.monotonic() - pushed
    print(f"# the agent acted on a new policy {a.reaction:.3f} s after it was written", flush=True)
    check("new policy: present registered stick re-evaluated to usb.read_only",
          ev and ev["type"] == "usb.read_only" and ev["details"].get("registration_no") == "総務-2026-014" and
          ev["details"].get("rule") == "removable_media.allow[0]", ev)
    ok = k.wait(lambda: k.attr(reg, "authorized") == "1" and k.attr(f"{reg}:1.0", "authorized") == "1"
                and f"{reg}:1.0" in k.probed)
    check("registered stick: authorized and probed", ok)
    if ev:
        check("registered stick event: interface read-only",
              interfaces_of(ev).get("1.0", {}).get("read_only") is True, ev["details"])
    check("registered stick: a read-only notice was attempted",
          k.wait(lambda: any(e["type"] == "agent.notice_fallback" and e["details"].get("notice_kind") == "usb_read_only"
                             for e in read_spool(a.spool))))
    k.pump(0.2)
    check("the unregistered SanDisk stays blocked under the new policy", k.attr(stick, "authorized") == "0")

    # --- and a policy that withdraws it: taken away at once ---
    a.push_policy(policy(3))
    ev = a.next_event(reg, timeout=20)
    check("withdrawn registration: usb.blocked", ev and ev["type"] == "usb.blocked", ev)
    check("withdrawn registration: deauthorized at once",
          k.wait(lambda: k.attr(reg, "authorized") == "0"))

    # --- audit mode lets it in and records it ---
    a.push_policy(policy(4, mode="audit"))
    ev = a.next_event(reg, timeout=20)
    check("audit mode: usb.allowed with audit flag", ev and ev["type"] == "usb.allowed" and
          ev["details"].get("audit") is True, ev)
    check("audit mode: stick authorized", k.wait(lambda: k.attr(reg, "authorized") == "1"))
    a.push_policy(policy(5))
    a.next_event(reg, timeout=20)
    k.wait(lambda: k.attr(reg, "authorized") == "0")

    st = a.status()
    usb = (st or {}).get("sources", {}).get("usb", {})
    check("status: controllers fail closed and device list", usb.get("controllers") == 2 and
          usb.get("controllers_fail_closed") == 2 and len(usb.get("devices", [])) >= 5, usb)
    check("status: blocks in the last 24 h counted", usb.get("blocks_24h", 0) >= 6, usb.get("blocks_24h"))

    r = subprocess.run([HOGOCTL, "media", "list", "--json", "--socket", os.path.join(a.work, "agent.sock")],
                       capture_output=True, text=True)
    try:
        listed = json.loads(r.stdout)
    except ValueError:
        listed = None
    check("hogoctl media list --json: the devices with their decisions",
          isinstance(listed, list) and any(d.get("port") == stick and d.get("outcome") == "blocked"
                                           for d in listed), r.stdout + r.stderr)
    r = subprocess.run([HOGOCTL, "media", "list", "--socket", os.path.join(a.work, "agent.sock")],
                       capture_output=True, text=True)
    check("hogoctl media list: a line per device with decision and rule",
          r.returncode == 0 and any(line.startswith(combo) and "blocked" in line and "removable_media.mode" in line
                                    for line in r.stdout.splitlines()), r.stdout + r.stderr)

    # --- the agent stops: the defaults stay closed ---
    a.stop()
    with open(os.path.join(a.work, "agent.log"), errors="replace") as f:
        log = f.read()
    check("agent log: no sanitizer report", "Sanitizer" not in log and "runtime error" not in log,
          log[-3000:])
    check("agent stopped: authorized_default still 0",
          all(k.hub_attr(h, "authorized_default") == "0" for h in ("usb1", "usb2")))
    late = k.plug("phone-mtp", hub="usb2")
    k.pump(0.2)
    check("plugged while the agent is down: stays unauthorized", k.attr(late, "authorized") == "0")

    expiry(k, a, reg, stick)


def utc_text(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def notice_after(a, event, kind):
    """Whether a notice of kind was attempted after event (a fallback record: no session)."""
    return any(e["type"] == "agent.notice_fallback" and e["details"].get("notice_kind") == kind and
               event and e["seq"] > event["seq"] for e in read_spool(a.spool))


def expiry(k, a, reg, stick):
    """Approvals that end while their stick is plugged in: the agent takes it away at the
    instant written in valid_until, with no new policy and no plug, and says why."""
    # a fresh agent: its notice rate limit (3 a minute per stick) starts empty
    mark = len(a.events())
    started = len([e for e in read_spool(a.spool) if e["type"] == "agent.started"])
    a.start()
    # the policy directory is watched only once the sources have started
    k.wait(lambda: len([e for e in read_spool(a.spool) if e["type"] == "agent.started"]) > started, 10)
    blocked_at_start = lambda: {e["details"].get("port") for e in a.events()[mark:] if e["type"] == "usb.blocked"}
    check("restart: both present sticks re-evaluated, blocked",
          k.wait(lambda: {reg, stick} <= blocked_at_start(), 10), blocked_at_start())
    a.seen = len(a.events())

    # How far ahead valid_until is set and how late the agent may act on it, scaled from the
    # agent's measured reaction to a policy (milliseconds on a quiet machine: then 5 s ahead
    # and at most 2 s late, as designed). Early is never allowed.
    reaction = a.reaction if a.reaction is not None else 1.0
    lead = max(5, int(2 + 3 * reaction) + 1)
    late = max(2.0, 3 * reaction)
    print(f"# valid_until set {lead} s ahead; the agent may act up to {late:.2f} s after it", flush=True)

    # the Kingston stick registered read-only until a few seconds from now
    until = int(time.time()) + lead
    a.push_policy(policy(6, allow=[dict(KINGSTON, access="read_only", valid_until=utc_text(until))]))
    ev = a.next_event(reg, timeout=lead - 1)
    check("timed registration: usb.read_only before valid_until",
          ev and ev["type"] == "usb.read_only" and ev["details"].get("rule") == "removable_media.allow[0]"
          and ev["details"].get("media_rule") == "allow"
          and ev["details"].get("valid_until") == until and time.time() < until, ev)
    check("timed registration: authorized before valid_until",
          k.wait(lambda: k.attr(reg, "authorized") == "1" and k.attr(f"{reg}:1.0", "authorized") == "1",
                 until - time.time() - 1.5))
    k.pump(max(0.0, until - 1 - time.time()))
    check("timed registration: still authorized 1 s before valid_until",
          time.time() < until and k.attr(reg, "authorized") == "1")
    k.wait(lambda: k.attr(reg, "authorized") == "0", until + late + 3 - time.time())
    gone = time.time()
    print(f"# deauthorized {gone - until:+.3f} s after valid_until", flush=True)
    check("registration expired: deauthorized at valid_until without a new policy or plug",
          k.attr(reg, "authorized") == "0" and until - 0.05 <= gone <= until + late,
          f"valid_until {until}, deauthorized at {gone:.3f}")
    check("registration expired: storage interface removed",
          k.wait(lambda: not os.path.exists(k.path(k.devices[reg].devpath + f"/{reg}:1.0"))))
    ev = a.next_event(reg)
    check("registration expired: usb.blocked naming the expired entry",
          ev and ev["type"] == "usb.blocked" and ev["details"].get("rule") == "removable_media.allow[0]"
          and ev["details"].get("media_rule") == "allow_expired"
          and ev["details"].get("valid_until") == until and ev["details"].get("outcome") == "blocked"
          and ev["details"].get("registration_no") == KINGSTON["registration_no"], ev)
    check("registration expired: a blocked notice to staff was attempted",
          k.wait(lambda: notice_after(a, ev, "usb_blocked")))

    # a manager's exception for the SanDisk stick on this terminal, lapsing shortly; the
    # Kingston entry stays in the policy, its valid_until already past
    lapse = int(time.time()) + lead
    sandisk = {"vendor": "0781", "product": "5581", "serial": "4C530001230915104273",
               "access": "read_write", "terminals": [socket.gethostname()],
               "reason": "監査資料の受け渡し", "approver": "情報政策課 山田", "valid_until": utc_text(lapse)}
    a.push_policy(policy(7, allow=[dict(KINGSTON, access="read_only", valid_until=utc_text(until))],
                         exceptions=[sandisk]))
    ev = a.next_event(stick, timeout=lead - 1)
    check("exception: usb.allowed before it lapses",
          ev and ev["type"] == "usb.allowed" and ev["details"].get("rule") == "removable_media.exceptions[0]"
          and ev["details"].get("media_rule") == "exception"
          and ev["details"].get("approver") == sandisk["approver"] and time.time() < lapse, ev)
    check("exception: storage interface authorized before it lapses",
          k.wait(lambda: k.attr(f"{stick}:1.0", "authorized") == "1", lapse - time.time() - 1.5))
    k.pump(0.3)
    check("exception: the expired Kingston entry still allows nothing", k.attr(reg, "authorized") == "0")
    k.wait(lambda: k.attr(stick, "authorized") == "0", lapse + late + 3 - time.time())
    gone = time.time()
    print(f"# deauthorized {gone - lapse:+.3f} s after valid_until", flush=True)
    check("exception lapsed: deauthorized at valid_until without a new policy or plug",
          k.attr(stick, "authorized") == "0" and lapse - 0.05 <= gone <= lapse + late,
          f"valid_until {lapse}, deauthorized at {gone:.3f}")
    ev = a.next_event(stick)
    check("exception lapsed: usb.blocked naming the lapsed exception",
          ev and ev["type"] == "usb.blocked" and ev["details"].get("rule") == "removable_media.exceptions[0]"
          and ev["details"].get("media_rule") == "exception_lapsed"
          and ev["details"].get("valid_until") == lapse, ev)
    check("exception lapsed: a blocked notice to staff was attempted",
          k.wait(lambda: notice_after(a, ev, "usb_blocked")))

    # plugged again after the end: blocked, the ended approval named
    for port, what, rule, why, end in (
            (reg, "expired registration", "removable_media.allow[0]", "allow_expired", until),
            (stick, "lapsed exception", "removable_media.exceptions[0]", "exception_lapsed", lapse)):
        k.unplug(port)
        a.next_event(port)
        again = k.plug("registered-stick" if port == reg else "stick")
        ev = a.next_event(again)
        check(f"plugged after its {what}: usb.blocked naming it",
              ev and ev["type"] == "usb.blocked" and ev["details"].get("rule") == rule and
              ev["details"].get("media_rule") == why and
              ev["details"].get("valid_until") == end, ev)
        k.pump(0.2)
        check(f"plugged after its {what}: stays unauthorized", k.attr(again, "authorized") == "0")


if __name__ == "__main__":
    sys.exit(main())
