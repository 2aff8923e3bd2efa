#!/usr/bin/python3
# usb_qemu.py — hogo-agent on a real kernel: qemu boots Debian's own kernel (the
# linux-image package, unpacked into build/qemu/, not installed) with a small busybox
# initramfs holding the agent. No udevd runs in the guest: the agent works from kernel
# uevents. Through QMP the test hot-plugs a USB keyboard, an unregistered usb-storage stick
# and a stick registered read-only, and reads from the guest's serial console that the
# keyboard binds usbhid, that no block device appears for the unregistered stick, that the
# registered one appears with its block device read-only, and that a stick registered
# read-write and mounted is remounted read-only when a new policy makes it read-only.
# timeout: 420
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("HOGO_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("HOGO_BUILD") or os.path.join(SRC, "build")
CACHE = os.path.join(SRC, "build/qemu")
MODULES = ["xhci-pci", "usb-storage", "sd_mod", "usbhid", "hid-generic", "crc32c_generic", "ext4"]
REGISTERED_SERIAL = "HOGOREG0001"  # registered read-only
REMOUNT_SERIAL = "HOGORW0001"      # registered read-write, then made read-only while mounted

failures = 0


def check(name, cond, detail=""):
    global failures
    print(f"{'ok' if cond else 'not ok'} - {name}", flush=True)
    if not cond:
        failures += 1
        if detail:
            print("# " + str(detail).replace("\n", "\n# "), flush=True)
    return cond


def kernel():
    """vmlinuz and the modules tree of Debian's kernel, downloaded once into build/qemu."""
    os.makedirs(CACHE, exist_ok=True)
    root = os.path.join(CACHE, "linux")
    found = [f for f in os.listdir(os.path.join(root, "boot"))] if os.path.isdir(os.path.join(root, "boot")) else []
    vmlinuz = [f for f in found if f.startswith("vmlinuz-")]
    if not vmlinuz:
        dep = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True)
        m = re.search(r"Depends: (linux-image-\S+)", dep.stdout)
        if not m:
            raise RuntimeError("cannot find Debian's kernel package (apt-cache depends linux-image-amd64)")
        subprocess.run(["apt-get", "download", m.group(1)], cwd=CACHE, check=True, capture_output=True)
        deb = [f for f in os.listdir(CACHE) if f.startswith(m.group(1)) and f.endswith(".deb")][0]
        subprocess.run(["dpkg-deb", "-x", os.path.join(CACHE, deb), root], check=True)
        os.unlink(os.path.join(CACHE, deb))
        vmlinuz = [f for f in os.listdir(os.path.join(root, "boot")) if f.startswith("vmlinuz-")]
    release = vmlinuz[0][len("vmlinuz-"):]
    return os.path.join(root, "boot", vmlinuz[0]), os.path.join(root, "lib/modules", release)


def module_order(moddir):
    """Module files for MODULES, each after the modules it depends on. The package leaves
    modules.dep to depmod at install time, so the dependencies are read from each module's
    .modinfo ("depends=a,b")."""
    paths = {}
    for dirpath, _, files in os.walk(os.path.join(moddir, "kernel")):
        for f in files:
            if f.endswith(".ko"):
                paths[f[:-3].replace("-", "_")] = os.path.relpath(os.path.join(dirpath, f), moddir)
    order = []

    def add(name):
        path = paths[name.replace("-", "_")]
        if path in order:
            return
        with open(os.path.join(moddir, path), "rb") as f:
            m = re.search(rb"\0depends=([^\0]*)\0", f.read())
        for dep in filter(None, (m.group(1).decode().split(",") if m else [])):
            add(dep)
        order.append(path)
    for name in MODULES:
        add(name)
    return order


class Cpio:
    """A newc cpio archive (the initramfs format), written without the cpio tool."""

    def __init__(self):
        self.data = bytearray()
        self.ino = 1

    def _entry(self, name, mode, body=b""):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.data += hdr.encode() + name_b
        self.data += b"\0" * ((4 - len(self.data) % 4) % 4)
        self.data += body
        self.data += b"\0" * ((4 - len(self.data) % 4) % 4)

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, src=None, body=None, mode=0o755):
        if body is None:
            with open(src, "rb") as f:
                body = f.read()
        self._entry(name, stat.S_IFREG | mode, body)

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.data)


INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run /tmp /mnt /var/lib/hogo/policy /var/lib/hogo/state
for m in $(cat /modules.order); do insmod /modules/$m 2>/dev/null; done
/sbin/hogo-agent -c /etc/hogo/agent.json -d >/tmp/agent.log 2>&1 &
(tail -f /tmp/agent.log | while read -r l; do echo "HOGO-LOG $l"; done) &
i=0
until [ "$(cat /sys/bus/usb/devices/usb1/authorized_default 2>/dev/null)" = 0 ] &&
      [ "$(cat /sys/bus/usb/devices/usb1/interface_authorized_default 2>/dev/null)" = 0 ]; do
    i=$((i+1)); [ $i -gt 1200 ] && { echo HOGO-FAIL agent did not close usb1 within 60 s; cat /tmp/agent.log; break; }
    sleep 0.05
done
for h in /sys/bus/usb/devices/usb*; do
    echo "HOGO-HUB $(basename $h) default=$(cat $h/authorized_default) iface_default=$(cat $h/interface_authorized_default)"
done
echo HOGO-READY
last=""
while true; do
    s=""
    for d in /sys/bus/usb/devices/*; do
        n=$(basename $d)
        case $n in usb*|*:*) continue;; esac
        s="$s
HOGO-DEV $n auth=$(cat $d/authorized) id=$(cat $d/idVendor):$(cat $d/idProduct) serial=$(cat $d/serial 2>/dev/null)"
        for i in $d/$n:*; do
            [ -e "$i" ] || continue
            drv=none; [ -e $i/driver ] && drv=$(basename $(readlink $i/driver))
            s="$s
HOGO-IF $(basename $i) auth=$(cat $i/authorized) driver=$drv"
        done
    done
    for b in /sys/block/sd*; do
        [ -e "$b" ] || continue
        s="$s
HOGO-BLK $(basename $b) ro=$(cat $b/ro) path=$(readlink -f $b)"
    done
    if [ "$s" != "$last" ]; then echo "HOGO-STATE$s"; echo HOGO-END; last="$s"; fi
    # the read-write stick: mount it, write, then drop the policy that makes it read-only
    if [ ! -e /tmp/mounted ]; then
        dev=""
        for d in /sys/bus/usb/devices/*; do
            [ "$(cat $d/serial 2>/dev/null)" = HOGORW0001 ] || continue
            dp=$(readlink -f $d)
            for b in /sys/block/sd*; do
                case $(readlink -f $b) in "$dp"/*) dev=$(basename $b);; esac
            done
        done
        # the disk's node and partition scan may lag its sysfs entry: retry for a while
        if [ -n "$dev" ] && ! mount -t ext4 /dev/$dev /mnt 2>/tmp/mount.err; then
            tries=$((${tries:-0}+1))
            [ $tries = 25 ] && echo "HOGO-MOUNTERR $dev $(cat /tmp/mount.err) $(dmesg | tail -3)"
        fi
        if [ -n "$dev" ] && grep -q ' /mnt ' /proc/mounts; then
            touch /tmp/mounted
            echo "HOGO-MOUNT $(grep ' /mnt ' /proc/mounts)"
            echo before >/mnt/before && echo "HOGO-WRITE before ok"
            cp /policy-v3.json /var/lib/hogo/policy/.policy.tmp
            mv /var/lib/hogo/policy/.policy.tmp /var/lib/hogo/policy/policy.json
        fi
    elif [ ! -e /tmp/checked ] && grep -q ' /mnt [^ ]* ro[, ]' /proc/mounts; then
        touch /tmp/checked
        echo "HOGO-MOUNT $(grep ' /mnt ' /proc/mounts)"
        if echo after >/mnt/after 2>/dev/null; then echo "HOGO-WRITE after ok"; else echo "HOGO-WRITE after refused"; fi
    fi
    sleep 0.2
done
"""


def build_initramfs(work, moddir):
    keys = os.path.join(work, "keys")
    hogoctl = os.path.join(BUILD, "hogoctl")
    subprocess.run([hogoctl, "policy", "keygen", "--out", keys], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(SRC, "policy/examples/strict-default.json")) as f:
        pol = json.load(f)
    pol["name"] = "qemu-usb"
    def entry(serial, access, no):
        return {"vendor": "46f4", "product": "0001", "serial": serial, "access": access,
                "registration_no": no, "holder": "総務課", "valid_until": "2099-03-31"}

    def sign(version, rw_access):
        pol["version"] = version
        pol["removable_media"]["allow"] = [entry(REGISTERED_SERIAL, "read_only", "総務-2026-099"),
                                           entry(REMOUNT_SERIAL, rw_access, "総務-2026-100")]
        src = os.path.join(work, f"policy-v{version}-src.json")
        with open(src, "w") as f:
            json.dump(pol, f, ensure_ascii=False)
        signed = os.path.join(work, f"policy-v{version}.json")
        subprocess.run([hogoctl, "policy", "sign", "--key", os.path.join(keys, "policy-signing.key"),
                        "--out", signed, src], check=True, stdout=subprocess.DEVNULL)
        return signed
    signed = sign(2, "read_write")
    signed_v3 = sign(3, "read_only")

    c = Cpio()
    for d in ("bin", "sbin", "etc", "etc/hogo", "proc", "sys", "dev", "run", "tmp", "mnt", "var", "var/lib",
              "var/lib/hogo", "var/lib/hogo/policy", "modules", "lib", "lib64", "usr", "usr/lib"):
        c.dir(d)
    c.file("bin/busybox", "/bin/busybox")
    c.file("init", body=INIT.encode())
    agent = os.path.join(BUILD, "hogo-agent")
    c.file("sbin/hogo-agent", agent)
    # the agent's shared libraries, at the paths the dynamic linker looks for them
    seen_dirs = set()
    for line in subprocess.run(["ldd", agent], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.search(r"(/\S+)", line.split("=>")[-1])
        if not m:
            continue
        lib = m.group(1)
        parts = lib.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in seen_dirs and d not in ("lib", "lib64", "usr", "usr/lib"):
                c.dir(d)
            seen_dirs.add(d)
        c.file(lib.lstrip("/"), os.path.realpath(lib))
    order = module_order(moddir)
    names = []
    for p in order:
        n = os.path.basename(p)
        c.file("modules/" + n, os.path.join(moddir, p), mode=0o644)
        names.append(n)
    c.file("modules.order", body=("\n".join(names) + "\n").encode(), mode=0o644)
    c.file("etc/hogo/agent.json", body=json.dumps({
        "spool_dir": "/var/lib/hogo/spool", "policy_dir": "/var/lib/hogo/policy",
        "policy_pubkey": "/etc/hogo/policy.pub", "state_dir": "/var/lib/hogo/state",
        "control_socket": "/run/agent.sock", "posture_file": "/run/posture.json", "notify": {"fallback": "none"},
        "log_level": "info"}).encode(), mode=0o644)
    c.file("etc/hogo/policy.pub", os.path.join(keys, "policy-signing.pub"), mode=0o644)
    c.file("var/lib/hogo/policy/policy.json", signed, mode=0o644)
    c.file("policy-v3.json", signed_v3, mode=0o644)
    out = os.path.join(work, "initrd.cpio")
    with open(out, "wb") as f:
        f.write(c.finish())
    return out


class Guest:
    def __init__(self, work, vmlinuz, initrd):
        self.console = os.path.join(work, "console.log")
        self.qmp_path = os.path.join(work, "qmp.sock")
        for n in ("unreg", "reg", "rw"):
            with open(os.path.join(work, n + ".img"), "wb") as f:
                f.truncate(8 << 20)
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", os.path.join(work, "rw.img")], check=True)
        accel = "tcg"
        args = ["qemu-system-x86_64", "-machine", "q35", "-accel", accel, "-m", "512", "-nographic",
                "-no-reboot", "-kernel", vmlinuz, "-initrd", initrd,
                "-append", "console=ttyS0 quiet panic=-1 loglevel=4",
                "-device", "qemu-xhci,id=xhci",
                "-drive", f"if=none,id=unreg,format=raw,file={work}/unreg.img",
                "-drive", f"if=none,id=reg,format=raw,file={work}/reg.img",
                "-drive", f"if=none,id=rw,format=raw,file={work}/rw.img",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-serial", f"file:{self.console}", "-monitor", "none", "-display", "none"]
        args.remove("-nographic")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.qmp = None

    def text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred(self.text())
            if v:
                return v
            if self.proc.poll() is not None:
                return None
            time.sleep(0.1)
        return pred(self.text())

    def state(self):
        """The last complete HOGO-STATE block."""
        t = self.text()
        blocks = re.findall(r"HOGO-STATE(.*?)HOGO-END", t, re.S)
        return blocks[-1] if blocks else ""

    def connect(self):
        for _ in range(100):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.qmp_path)
                self.qmp = s.makefile("rw")
                self.qmp.readline()
                self.command("qmp_capabilities")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("no QMP socket")

    def command(self, name, **args):
        self.qmp.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.qmp.flush()
        while True:
            r = json.loads(self.qmp.readline())
            if "return" in r or "error" in r:
                return r

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def main():
    for tool in ("qemu-system-x86_64", "/bin/busybox", "dpkg-deb"):
        if not shutil.which(tool):
            check(f"{tool} present (scripts/install-deps installs it)", False)
            return 1
    work = tempfile.mkdtemp(prefix="hogo-usb-qemu.")
    guest = None
    try:
        vmlinuz, moddir = kernel()
        initrd = build_initramfs(work, moddir)
        t0 = time.monotonic()
        guest = Guest(work, vmlinuz, initrd)
        guest.connect()
        # generous waits: TCG on a busy 2-core machine boots in 4 s or in 60
        ready = guest.wait_for(lambda t: "HOGO-READY" in t or "HOGO-FAIL" in t, 180)
        check(f"guest booted Debian's kernel and the agent closed the root hubs ({time.monotonic() - t0:.1f} s)",
              ready and "HOGO-READY" in guest.text() and "HOGO-FAIL" not in guest.text(), guest.text()[-3000:])
        hubs = re.findall(r"HOGO-HUB (\S+) default=(\S+) iface_default=(\S+)", guest.text())
        check("every root hub fail-closed (authorized_default=0, interface_authorized_default=0)",
              hubs and all(d == "0" and i == "0" for _, d, i in hubs), hubs)

        r = guest.command("device_add", driver="usb-kbd", bus="xhci.0", id="kbd")
        check("QMP: keyboard plugged", "return" in r, r)
        ok = guest.wait_for(lambda t: re.search(r"HOGO-IF \S+:1\.0 auth=1 driver=usbhid", guest.state()), 90)
        check("keyboard: authorized and bound to usbhid", ok, guest.state())

        r = guest.command("device_add", driver="usb-storage", bus="xhci.0", drive="unreg", id="unreg",
                          serial="UNREGISTERED1")
        check("QMP: unregistered stick plugged", "return" in r, r)
        ok = guest.wait_for(lambda t: re.search(r"HOGO-DEV \S+ auth=0 id=46f4:0001 serial=UNREGISTERED1",
                                                guest.state()), 90)
        check("unregistered stick: present and unauthorized", ok, guest.state())
        time.sleep(2.0)
        check("unregistered stick: no block device appeared", "HOGO-BLK" not in guest.state(), guest.state())

        r = guest.command("device_add", driver="usb-storage", bus="xhci.0", drive="reg", id="reg",
                          serial=REGISTERED_SERIAL)
        check("QMP: registered stick plugged", "return" in r, r)
        blk = guest.wait_for(lambda t: re.search(r"HOGO-BLK (sd\w+) ro=(\d) path=(\S+)", guest.state()), 90)
        check("registered stick: its block device appeared", blk, guest.state())
        if blk:
            ok = guest.wait_for(lambda t: re.search(r"HOGO-BLK sd\w+ ro=1", guest.state()), 30)
            check("registered stick: block device read-only (BLKROSET)", ok, guest.state())
        log = "\n".join(l for l in guest.text().splitlines() if l.startswith("HOGO-LOG"))
        check("agent events: usb.read_only for the registered stick (its registration_no)",
              re.search(r"usb\.read_only.*" + REGISTERED_SERIAL + r".*総務-2026-099", log), log[-2000:])
        check("agent events: usb.blocked for the unregistered stick, usb.allowed for the keyboard",
              re.search(r"usb\.blocked.*UNREGISTERED1", log) and re.search(r"usb\.allowed.*0627", log),
              log[-2000:])
        check("unregistered stick still unauthorized",
              re.search(r"HOGO-DEV \S+ auth=0 id=46f4:0001 serial=UNREGISTERED1", guest.state()), guest.state())

        r = guest.command("device_add", driver="usb-storage", bus="xhci.0", drive="rw", id="rw",
                          serial=REMOUNT_SERIAL)
        check("QMP: read-write registered stick plugged", "return" in r, r)
        ok = guest.wait_for(lambda t: re.search(r"HOGO-MOUNT \S+ /mnt ext[24] rw", t) and "HOGO-WRITE before ok" in t, 90)
        check("read-write stick: mounted read-write and written", ok, guest.text()[-2000:])
        ok = guest.wait_for(lambda t: re.search(r"HOGO-MOUNT \S+ /mnt ext[24] ro", t), 90)
        check("new policy makes it read-only: remounted read-only while mounted", ok, guest.text()[-2500:])
        ok = guest.wait_for(lambda t: "HOGO-WRITE after refused" in t, 30)
        check("after the remount: writing to the stick is refused", ok, guest.text()[-1500:])
        print(f"# whole run {time.monotonic() - t0:.1f} s", flush=True)
    except Exception as e:  # noqa: BLE001 — reported as a failed check with its reason
        check("qemu USB test ran", False, repr(e))
    finally:
        if guest:
            if failures:
                print("# guest console (last lines):\n# " + "\n# ".join(guest.text().splitlines()[-120:]))
            guest.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
