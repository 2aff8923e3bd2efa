# files_ns — what the files-source tests share (not a test itself): each runs in a mount
# namespace of its own, on private mounts, with users that exist only there.
import os
import subprocess
import sys


def enter_private_mount_namespace(script):
    """Re-runs script in a new mount namespace (private propagation): every mount the test
    makes, and the agent's fanotify marks on them, stay inside."""
    if os.environ.get("HOGO_FILES_NS") != "1":
        os.environ["HOGO_FILES_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable,
                              os.path.abspath(script)])


def run_as(uid, *cmd, check_rc=True):
    p = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *cmd],
                       capture_output=True, text=True, timeout=60)
    if check_rc and p.returncode != 0:
        raise RuntimeError(f"{cmd} as {uid}: {p.stderr}")
    return p


def mount(path, fstype="tmpfs", opts="size=64m,mode=0755"):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", fstype] + (["-o", opts] if opts else []) + ["hogo-test", path],
                   check=True)


def add_users(scratch, home, users):
    """users (name → uid) with homes under home and a Downloads dir each, known through a
    passwd file bind-mounted over /etc/passwd in this namespace only."""
    with open("/etc/passwd") as f:
        passwd = f.read()
    for name, uid in users.items():
        os.makedirs(f"{home}/{name}/Downloads", exist_ok=True)
        for d in (f"{home}/{name}", f"{home}/{name}/Downloads"):
            os.chown(d, uid, uid)
        passwd += f"{name}:x:{uid}:{uid}::{home}/{name}:/bin/sh\n"
    with open(scratch.join("passwd"), "w") as f:
        f.write(passwd)
    subprocess.run(["mount", "--bind", scratch.join("passwd"), "/etc/passwd"], check=True)


def run_test(body):
    """body(scratch) in a scratch directory; the agent's log tail when something failed."""
    import agent_harness
    with agent_harness.Scratch() as scratch:
        try:
            body(scratch)
        finally:
            if agent_harness.failures or sys.exc_info()[0]:
                log = scratch.join("agent.log")
                if os.path.exists(log):
                    with open(log, errors="replace") as f:
                        print("# agent log tail:\n# " + f.read()[-4000:].replace("\n", "\n# "))
    agent_harness.finish()
