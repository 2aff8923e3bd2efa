#!/usr/bin/python3
# usb_session.py — who a USB decision is recorded against, and the notice staff see.
# timeout: 120
#
# The real hogo-agent under a umockdev testbed (usb_testbed.py), in a private mount
# namespace whose /run/systemd/seats is a scratch directory: the agent's sd-login reads the
# active session of seat0 from /run/systemd/seats/seat0 (ACTIVE=, ACTIVE_UID=, as logind
# writes it), so the test changes the active user by rewriting that file. Notices go the
# real way: sessions from a python3-dbusmock logind on a private system bus, the Notify call
# made as the session's user on a private session bus served by dbusmock's
# notification_daemon template, whose recorded calls are checked.
import json
import os
import pwd
import subprocess
import sys

if "umockdev" not in os.environ.get("LD_PRELOAD", ""):
    os.execvp("umockdev-wrapper", ["umockdev-wrapper", sys.executable] + sys.argv)

import dbus  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_harness import (Scratch, check, dbusmock, finish, start_bus, wait_for,  # noqa: E402
                           wait_name)
from usb_umockdev import AGENT, BUILD, KINGSTON, Agent, policy  # noqa: E402
from usb_testbed import FakeUsbKernel  # noqa: E402

USER = "nobody"
UID = pwd.getpwnam(USER).pw_uid


class SessionAgent(Agent):
    """usb_umockdev's agent, with the buses and a seat directory of the test's own."""

    def __init__(self, scratch, kernel, system_bus, session_bus):
        super().__init__(scratch.path, kernel)
        self.system_bus = system_bus
        self.seats = scratch.join("seats")
        os.makedirs(self.seats, exist_ok=True)
        with open(self.config) as f:
            cfg = json.load(f)
        cfg["notify"] = {"contact": "情報政策課 (内線 1234)", "session_bus_address": session_bus,
                         "locale_dir": os.path.join(BUILD, "locale")}
        with open(self.config, "w") as f:
            json.dump(cfg, f, ensure_ascii=False)

    def set_active(self, session, uid):
        """Writes seat0 as logind does (a new file renamed over the old)."""
        tmp = os.path.join(self.seats, ".seat0")
        with open(tmp, "w") as f:
            f.write("# This is private data. Do not parse.\nIS_SEAT0=1\nCAN_MULTI_SESSION=1\n"
                    "CAN_TTY=1\nCAN_GRAPHICAL=1\n")
            if session:
                f.write(f"ACTIVE={session}\nACTIVE_UID={uid}\nSESSIONS={session}\nUIDS={uid}\n")
        os.rename(tmp, os.path.join(self.seats, "seat0"))

    def start(self):
        self.log = open(os.path.join(self.work, "agent.log"), "a")
        run = "/run/systemd" if os.path.isdir("/run/systemd") else "/run"
        # a tmpfs over the host's logind state, in this namespace only, holding a link to
        # the test's seat directory
        script = 'mount -t tmpfs -o mode=0755 hogo-test "$0" && ln -s "$1" "$0/seats" && shift && exec "$@"'
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.system_bus)
        env["UMOCKDEV_DIR"] = self.kernel.tb.get_root_dir()  # set in the C environment only
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(key, None)
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, run,
                                      self.seats, AGENT, "-c", self.config, "-d"], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        self.kernel.hold_pids = [self.proc.pid]  # unshare and sh exec the agent: the same pid


def notify_calls(session_address):
    bus = dbus.bus.BusConnection(session_address)
    mock = bus.get_object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
    return [c for c in mock.GetCalls(dbus_interface="org.freedesktop.DBus.Mock") if c[1] == "Notify"]


def main():
    with Scratch() as s:
        system = start_bus(s, "system")
        session = start_bus(s, "session")
        dbusmock(s, "DBUS_SYSTEM_BUS_ADDRESS", system, "logind")
        dbusmock(s, "DBUS_SESSION_BUS_ADDRESS", session, "notification_daemon")
        if not (wait_name(system, "org.freedesktop.login1") and
                wait_name(session, "org.freedesktop.Notifications")):
            print("not ok - mock logind or notification daemon did not start")
            return 1
        login1 = dbus.bus.BusConnection(system).get_object("org.freedesktop.login1", "/org/freedesktop/login1")
        path = login1.AddSession("c1", "seat0", dbus.UInt32(UID), USER, True,
                                 dbus_interface="org.freedesktop.DBus.Mock")
        props = dbus.Interface(dbus.bus.BusConnection(system).get_object("org.freedesktop.login1", path),
                               "org.freedesktop.DBus.Properties")
        leader = s.spawn(["sleep", "300"], env={"LANG": "ja_JP.UTF-8", "PATH": os.environ["PATH"]})
        props.Set("org.freedesktop.login1.Session", "Type", "x11")
        props.Set("org.freedesktop.login1.Session", "Leader", dbus.UInt32(leader.pid))

        k = FakeUsbKernel()
        a = SessionAgent(s, k, system, session)
        a.set_active("c1", UID)
        a.start()
        try:
            run(k, a, session)
        finally:
            a.stop()
            if not check("agent stops cleanly, no sanitizer report", a_log_clean(a)):
                with open(os.path.join(a.work, "agent.log"), errors="replace") as f:
                    print("# agent log (last lines):\n# " + "# ".join(f.readlines()[-60:]))
    finish()


def a_log_clean(a):
    with open(os.path.join(a.work, "agent.log"), errors="replace") as f:
        log = f.read()
    return "Sanitizer" not in log and "runtime error" not in log


def run(k, a, session):
    check("agent started", k.wait(lambda: k.hub_attr("usb1", "authorized_default") == "0", 10))

    # --- a blocked stick: recorded against the active user, a Japanese notice to them ---
    stick = k.plug("stick")
    ev = a.next_event(stick)
    check("blocked stick: usb.blocked carries the active session's user",
          ev and ev["type"] == "usb.blocked" and ev.get("user") == USER, ev)
    calls = wait_for(lambda: notify_calls(session), 15)
    n = calls[0][2] if calls else None
    check("blocked stick: Notify called on the user's session bus", n is not None, calls)
    if n:
        summary, body = str(n[3]), str(n[4])
        check("blocked stick notice: Japanese, says what happened and what is kept safe",
              summary == "USB機器の接続を制限しました" and
              "「SanDisk Ultra (0781:5581)」は記録機能を有する機器のため、この端末では使用できません。" in body
              and "端末内のデータは保護されています。" in body, summary + "\n" + body)
        check("blocked stick notice: names the rule and whom to contact",
              "規程: 記録機能を有する機器の接続制限" in body and "問い合わせ先: 情報政策課 (内線 1234)" in body, body)
        check("blocked stick notice: urgent", n[6].get("urgency") == 2, n[6])

    # --- a registered stick, read-only: the read-only notice ---
    a.push_policy(policy(2, allow=[dict(KINGSTON, access="read_only")]))
    check("policy registering the Kingston stick read-only in force",
          k.wait(lambda: ((a.status() or {}).get("policy") or {}).get("version") == 2, 10))
    reg = k.plug("registered-stick")
    ev = a.next_event(reg, timeout=10)
    check("registered stick: usb.read_only carries the active session's user",
          ev and ev["type"] == "usb.read_only" and ev.get("user") == USER, ev)
    def read_only_notice():
        return [c[2] for c in notify_calls(session) if str(c[2][3]) == "USB媒体を読み取り専用で接続しました"]
    calls = wait_for(read_only_notice, 15)
    n = calls[0] if calls else None
    check("registered stick: read-only notice, in Japanese",
          n is not None and
          "は登録された媒体として読み取り専用で使えます。この媒体へ書き込むことはできません。" in str(n[4])
          and "(0951:1666)" in str(n[4]), n)

    stick_events = [e for e in a.events() if e["details"].get("port") == stick]
    check("the blocked stick is recorded once, not again when the policy changes",
          [e["type"] for e in stick_events] == ["usb.blocked"], stick_events)

    # --- another user becomes active on seat0: the next decision names them ---
    a.set_active("c2", 0)
    other = k.plug("phone-mtp")
    ev = a.next_event(other)
    check("after a session switch: the event names the newly active user (root)",
          ev and ev["type"] == "usb.blocked" and ev.get("user") == "root", ev)
    k.unplug(other)
    a.next_event(other)

    # --- nobody logged in on seat0: no user is made up ---
    a.set_active(None, None)
    again = k.plug("phone-adb")
    ev = a.next_event(again)
    check("no active session: the event has no user",
          ev and ev["type"] == "usb.blocked" and not ev.get("user"), ev)


if __name__ == "__main__":
    sys.exit(main())
