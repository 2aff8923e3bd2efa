# usb_testbed.py — a umockdev testbed that behaves like the kernel's USB authorization,
# shared by the usb_* integration tests and bench/usb_latency (not a test itself).
#
# umockdev gives a fake sysfs and delivers uevents to the agent's netlink socket, but its
# attributes are plain files: nothing happens when the agent writes them. FakeUsbKernel
# plays the kernel's part, as drivers/usb/core does it:
#   - a device plugged into a root hub whose authorized_default is 0 arrives unauthorized
#     and without interfaces; with 1 it arrives authorized, interfaces bound;
#   - writing 1 to a device's `authorized` creates the interfaces of its first
#     configuration, authorized as the hub's interface_authorized_default says; writing 0
#     removes them again;
#   - bus/usb/drivers_probe is a FIFO: every interface name the agent writes is recorded
#     (a driver would bind to it).
# Devices come from tests/usb/<name>.umockdev: a device block, then its interfaces.
import contextlib
import ctypes
import glob
import os
import shutil
import signal
import socket
import time

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402

SRC = os.environ.get("HOGO_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
PCI = "/devices/pci0000:00/0000:00:14.0"
HUBS = {"usb1": PCI + "/usb1", "usb2": PCI + "/usb2"}

CONTROLLERS = f"""P: {PCI}
E: DRIVER=xhci_hcd
E: PCI_CLASS=C0330
E: PCI_ID=8086:A36D
E: SUBSYSTEM=pci
A: class=0x0c0330
A: vendor=0x8086
A: device=0xa36d

P: {PCI}/usb1
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT=1d6b/2/601
E: TYPE=9/0/1
E: SUBSYSTEM=usb
A: idVendor=1d6b
A: idProduct=0002
A: authorized=1
A: authorized_default=1
A: interface_authorized_default=1
A: bDeviceClass=09
A: speed=480
H: descriptors=12010002090001406B1D020001060302010109021900010100E0000904000001090000000705810304000C

P: {PCI}/usb2
E: DEVTYPE=usb_device
E: DRIVER=usb
E: PRODUCT=1d6b/3/601
E: TYPE=9/0/3
E: SUBSYSTEM=usb
A: idVendor=1d6b
A: idProduct=0003
A: authorized=1
A: authorized_default=1
A: interface_authorized_default=1
A: bDeviceClass=09
A: speed=5000
H: descriptors=12010003090003096B1D030001060302010109021F00010100E00009040000010900000007058103040009063000000200
"""


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def load_recording(name):
    """(device block, [interface blocks]) of tests/usb/<name>.umockdev, comments dropped."""
    with open(os.path.join(SRC, "tests/usb", name + ".umockdev")) as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.startswith("#"))
    blocks = [b.strip() + "\n" for b in text.split("\n\n") if b.strip()]
    return blocks[0], blocks[1:]


def block_path(block):
    return block.split("\n", 1)[0][3:]


def set_attr(block, attr, value):
    lines = [line for line in block.splitlines() if not line.startswith(f"A: {attr}=")]
    lines.append(f"A: {attr}={value}")
    return "\n".join(lines) + "\n"


_libc = ctypes.CDLL(None, use_errno=True)


def _stop_every_thread(pid):
    """SIGSTOP to pid and to each of its threads. A signal to the process wakes one thread
    only, to start the group stop; when that thread sleeps uninterruptibly (the main loop
    writing to a busy or frozen disk) the others run on until it wakes. A signal to each
    thread wakes every one that can be woken."""
    os.kill(pid, signal.SIGSTOP)
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return
    for tid in tids:
        _libc.tgkill(pid, tid, signal.SIGSTOP)  # a thread gone meanwhile: ESRCH, fine


def _states(pid):
    """{thread id: state letter} of pid, for messages."""
    states = {}
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                states[t] = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        pass
    return states


def _stopped(pid):
    """Every thread of pid is stopped, or gone, or in uninterruptible sleep: such a thread
    (say, writing to a frozen file system) runs no code of its own before the pending stop
    takes it on its way back from the kernel, so it cannot look at a device meanwhile."""
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t", "D"):
                    return False
    except OSError:
        pass
    return True


class Plugged:
    def __init__(self, name, devpath, interfaces):
        self.name = name  # kernel name, "1-1"
        self.devpath = devpath
        self.interface_blocks = interfaces
        self.interfaces_present = False
        self.plugged_ns = 0


class FakeUsbKernel:
    def __init__(self):
        self.tb = UMockdev.Testbed.new()
        self.sys = self.tb.get_sys_dir()
        self.tb.add_from_string(CONTROLLERS)
        probe = os.path.join(self.sys, "bus/usb/drivers_probe")
        os.makedirs(os.path.dirname(probe), exist_ok=True)
        os.mkfifo(probe, 0o600)
        self.probe_fd = os.open(probe, os.O_RDONLY | os.O_NONBLOCK)
        self.probed = []  # interface names written to drivers_probe, in order
        self.devices = {}
        # processes held still while a device is built (hold_while_building)
        self.hold_pids = []

    @contextlib.contextmanager
    def building(self):
        """The kernel creates every attribute of a device before it sends the device's
        uevent; umockdev sends its uevent while it is still writing them. A daemon that reacts
        at once would find half a device, so the processes in hold_pids are stopped while a
        device is built and see its uevent only when it is complete."""
        held = []
        for pid in self.hold_pids:
            try:
                _stop_every_thread(pid)
                held.append(pid)
            except ProcessLookupError:
                pass
        # A task that a busy machine does not schedule stops late. Building the device
        # while one still runs would let it see the half-built device this hold is for, so
        # wait as long as it takes, and say so when it never stops instead of going on
        # with the race.
        deadline = time.monotonic() + 30.0
        while held and not all(_stopped(p) for p in held):
            if time.monotonic() >= deadline:
                for pid in held:
                    os.kill(pid, signal.SIGCONT)
                raise RuntimeError(f"processes {held} did not stop within 30 s (thread states "
                                   f"{[_states(p) for p in held]}); device not built")
            time.sleep(0.0005)
        try:
            yield
        finally:
            for pid in held:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass

    def path(self, devpath, attr=None):
        p = self.sys + devpath
        return os.path.join(p, attr) if attr else p

    def hub_attr(self, hub, attr):
        return read(self.path(HUBS[hub], attr))

    def set_hub_attr(self, hub, attr, value):
        with open(self.path(HUBS[hub], attr), "w") as f:
            f.write(value)

    def attr(self, name, attr):
        dev = self._find(name)
        return read(self.path(dev, attr)) if dev else None

    def _find(self, name):
        base = name.split(":")[0]
        d = self.devices.get(base)
        if not d:
            return None
        return d.devpath if name == base else d.devpath + "/" + name

    def plug(self, recording, hub="usb1", descriptors=None, unwritable=()):
        """Plugs a recorded device; returns its kernel name. descriptors replaces the
        recorded ones ("" removes the file); the interfaces named in unwritable ("1.0")
        get an `authorized` that cannot be written (a directory)."""
        dev, interfaces = load_recording(recording)
        if hub != "usb1":  # the same device on another bus: usb2/2-N, 2-N:1.0
            move = lambda b: b.replace("/usb1/", f"/{hub}/").replace("/1-", f"/{hub[3:]}-")
            dev, interfaces = move(dev), [move(b) for b in interfaces]
        devpath = block_path(dev)
        if descriptors is not None:
            dev = "\n".join(l for l in dev.splitlines() if not l.startswith("H: descriptors=")) + "\n"
            if descriptors:
                dev += f"H: descriptors={descriptors}\n"
        name = devpath.rsplit("/", 1)[1]
        broken = [f"{name}:{i}" for i in unwritable]
        interfaces = [set_attr(b, "authorized/unwritable", "1")
                      .replace("A: authorized=0\n", "")
                      if block_path(b).endswith(tuple("/" + n for n in broken)) else b
                      for b in interfaces]
        p = Plugged(name, devpath, interfaces)
        self.devices[name] = p
        authorized = "0" if self.hub_attr(hub, "authorized_default") == "0" else "1"
        p.plugged_ns = time.monotonic_ns()
        with self.building():
            self.tb.add_from_string(set_attr(dev, "authorized", authorized))
        if authorized == "1":
            self._create_interfaces(p, hub)
        return name

    def _hub_of(self, p):
        return p.devpath.split("/")[4]

    def _create_interfaces(self, p, hub=None):
        hub = hub or self._hub_of(p)
        default = "0" if self.hub_attr(hub, "interface_authorized_default") == "0" else "1"
        for b in p.interface_blocks:
            if "A: authorized/unwritable=" not in b:
                b = set_attr(b, "authorized", default)
            with self.building():
                self.tb.add_from_string(b)
        p.interfaces_present = True

    def _remove_interfaces(self, p):
        for b in p.interface_blocks:
            ip = block_path(b)
            self.tb.uevent("/sys" + ip, "remove")
            self.tb.remove_device("/sys" + ip)
            link = os.path.join(self.sys, "bus/usb/devices", ip.rsplit("/", 1)[1])
            if os.path.islink(link):
                os.unlink(link)
        p.interfaces_present = False

    def unplug(self, name):
        p = self.devices.pop(name)
        if p.interfaces_present:
            self._remove_interfaces(p)
        self.tb.uevent("/sys" + p.devpath, "remove")
        self.tb.remove_device("/sys" + p.devpath)
        # umockdev 0.17 leaves the bus links behind
        for link in glob.glob(os.path.join(self.sys, "bus/usb/devices", name + "*")):
            if os.path.islink(link):
                os.unlink(link)
        shutil.rmtree(self.path(p.devpath), ignore_errors=True)

    def send_kernel_uevent(self, action, devpath, props):
        """A kernel-format uevent ("ACTION@DEVPATH\\0KEY=VAL...") to every netlink socket
        of the testbed, for a path that may not exist (a device that vanished)."""
        msg = f"{action}@{devpath}\0ACTION={action}\0DEVPATH={devpath}\0"
        msg += "".join(f"{k}={v}\0" for k, v in props.items())
        for sock in glob.glob(os.path.join(self.tb.get_root_dir(), "event[0-9]*")):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                s.sendto(msg.encode(), sock)
            except OSError:
                pass
            finally:
                s.close()

    def pump(self, seconds=0.0):
        """Plays the kernel for a while: reacts to what the agent wrote."""
        deadline = time.monotonic() + seconds
        while True:
            self._read_probes()
            for p in list(self.devices.values()):
                auth = read(self.path(p.devpath, "authorized"))
                if auth == "1" and not p.interfaces_present:
                    self._create_interfaces(p)
                elif auth == "0" and p.interfaces_present:
                    self._remove_interfaces(p)
            if time.monotonic() >= deadline:
                return
            time.sleep(0.002)

    def _read_probes(self):
        while True:
            try:
                chunk = os.read(self.probe_fd, 4096)
            except BlockingIOError:
                return
            if not chunk:
                return
            # the agent ends each name with a newline (the kernel ignores it)
            self.probed += [n for n in chunk.decode().split("\n") if n]

    def wait(self, pred, timeout=15.0):
        """pred's first true value, pumping meanwhile; its last value after timeout. The
        default timeout is generous: it only matters when pred never holds (a failure),
        and a loaded machine may take seconds for what usually takes milliseconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0)
            v = pred()
            if v:
                return v
            time.sleep(0.005)
        self.pump(0)
        return pred()
