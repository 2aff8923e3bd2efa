#!/usr/bin/python3
# usb_stall.py — a plug is decided while the agent's main loop is stuck on its spool.
# timeout: 90
#
# The real hogo-agent under a umockdev testbed (usb_testbed.py), its spool on a small ext4
# image mounted in this test's private mount namespace. With the file system frozen
# (fsfreeze), the first blocked stick's event cannot be written: the main loop waits in the
# spool until the thaw, as it would behind a slow disk. A second stick plugged meanwhile
# must still be blocked at once (the uevent thread decides and writes sysfs on its own),
# and after the thaw both events are in the spool.
import os
import signal
import subprocess
import sys
import tempfile
import time

if not os.environ.get("HOGO_USB_STALL_NS"):
    os.environ["HOGO_USB_STALL_NS"] = "1"
    os.execvp("unshare", ["unshare", "-m", "--propagation", "private", sys.executable] + sys.argv)
if "umockdev" not in os.environ.get("LD_PRELOAD", ""):
    os.execvp("umockdev-wrapper", ["umockdev-wrapper", sys.executable] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_harness import check, finish  # noqa: E402
from usb_umockdev import Agent  # noqa: E402
from usb_testbed import FakeUsbKernel  # noqa: E402


def host(args, check=True):
    """A command that must see the real /dev (a loop device), not the testbed's."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    return subprocess.run(args, check=check, env=env)


def on_term(signum, frame):
    raise SystemExit(1)  # so that the file system is thawed on the way out


def main():
    signal.signal(signal.SIGTERM, on_term)
    work = tempfile.mkdtemp(prefix="hogo-usb-stall.")
    image = os.path.join(work, "spool.img")
    k = FakeUsbKernel()
    a = Agent(work, k)
    subprocess.run(["truncate", "-s", "16M", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
    os.makedirs(a.spool)
    frozen = False
    try:
        host(["mount", "-o", "loop", image, a.spool])
        a.start()
        check("agent started", k.wait(lambda: k.hub_attr("usb1", "authorized_default") == "0", 10))

        host(["fsfreeze", "--freeze", a.spool])
        frozen = True
        stick = k.plug("stick")
        k.pump(0.5)  # its usb.blocked event now waits in the main loop for the frozen spool
        check("spool frozen: the stick stays blocked", k.attr(stick, "authorized") == "0")
        t0 = time.monotonic()
        kbd = k.plug("keyboard")
        # the spool stays frozen for the whole wait, so an agent that waits for it never
        # passes; the wait is long only so that a loaded machine is not taken for that
        ok = k.wait(lambda: k.attr(kbd, "authorized") == "1" and k.attr(f"{kbd}:1.0", "authorized") == "1", 20)
        took = time.monotonic() - t0
        check("spool frozen: a keyboard plugged meanwhile is authorized at once, not after the spool",
              ok, (k.attr(kbd, "authorized"), f"{took:.3f} s"))

        host(["fsfreeze", "--unfreeze", a.spool])
        frozen = False
        seen = lambda: {(e["type"], e["details"].get("port")) for e in a.events()}
        ok = k.wait(lambda: {("usb.blocked", stick), ("usb.allowed", kbd)} <= seen(), 10)
        check("after the thaw: both decisions are in the spool", ok, seen())
    finally:
        if frozen:
            host(["fsfreeze", "--unfreeze", a.spool], check=False)
        a.stop()
        if not check("agent stops cleanly, no sanitizer report", sanitizer_clean(work)):
            with open(os.path.join(work, "agent.log"), errors="replace") as f:
                print("# agent log (last lines):\n# " + "# ".join(f.readlines()[-40:]))
        host(["umount", a.spool], check=False)
        subprocess.run(["rm", "-rf", work])
    finish()


def sanitizer_clean(work):
    with open(os.path.join(work, "agent.log"), errors="replace") as f:
        log = f.read()
    return "Sanitizer" not in log and "runtime error" not in log


if __name__ == "__main__":
    main()
