#!/usr/bin/python3
# agent_disk_full — the real hogo-agent with its spool on a tiny tmpfs (in a private mount
# namespace) that fills up: the agent keeps running and answering, status and posture say
# the disk is full, and when space returns every held event is written, an
# agent.spool_resumed event follows, and the chain has no gap.
# timeout: 90
import json
import os
import signal
import subprocess
import sys
import time

if not os.environ.get("HOGO_AGENT_NS"):
    os.environ["HOGO_AGENT_NS"] = "1"
    os.execvp("unshare", ["unshare", "-m", "--propagation", "private", sys.executable] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_harness import (HOGOCTL, Agent, Scratch, check, drop_policy, events_of,
                           example_policy, finish, keygen, sign, spool_events, start_bus,
                           wait_for, write_config)


def posture(cfg):
    with open(cfg["posture_file"]) as f:
        return json.load(f)


with Scratch() as s:
    mnt = s.join("mnt")
    os.makedirs(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "hogo-agent-test", mnt]).returncode:
        print("not ok - mount a 1 MiB tmpfs")
        sys.exit(1)
    try:
        bus = start_bus(s, "system")
        key, pub = keygen(s)
        drop_policy(s.join("policy"), sign(s, key, example_policy(1), "v1"))
        config, cfg = write_config(s, pub, spool_dir=os.path.join(mnt, "spool"))
        agent = Agent(s, config, cfg, bus)
        check("agent starts with its spool on the small file system",
              agent.status()["spool"]["state"] == "ok")

        # fill the file system to the last block
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)

        # each SIGHUP with a refused drop is a security event the spool must take
        drop_policy(s.join("policy"), json.dumps(example_policy(9)))  # unsigned: refused
        for _ in range(5):
            agent.signal(signal.SIGHUP)
            time.sleep(0.2)
        st = wait_for(lambda: (lambda x: x if x["spool"]["state"] == "disk_full" else None)(agent.status()), 10)
        check("disk full: status says so and the agent keeps answering",
              st is not None and st["spool"]["state"] == "disk_full", st and st["spool"])
        check("disk full: posture spool_healthy fails",
              wait_for(lambda: posture(cfg)["checks"]["spool_healthy"]["result"] == "fail", 5)
              if os.path.exists(cfg["posture_file"]) else False,
              posture(cfg)["checks"]["spool_healthy"])

        os.unlink(filler)
        resumed = wait_for(lambda: events_of(cfg["spool_dir"], "agent.spool_resumed"), 20)
        st = agent.status()
        check("space back: agent.spool_resumed recorded, spool ok again",
              resumed and resumed[0]["details"]["lost_events"] == 0 and st["spool"]["state"] == "ok",
              (resumed, st["spool"]))
        rejected = events_of(cfg["spool_dir"], "agent.policy_rejected")
        # the drop itself (noticed through inotify) and the five SIGHUPs
        check("every refusal made while the disk was full was written", len(rejected) == 6, len(rejected))
        check("posture: spool healthy again",
              wait_for(lambda: posture(cfg)["checks"]["spool_healthy"]["result"] == "pass", 5))
        rc = agent.stop()
        seqs = [e["seq"] for e in spool_events(cfg["spool_dir"]) if "seq" in e]
        v = subprocess.run([HOGOCTL, "spool", "verify", cfg["spool_dir"]], capture_output=True, text=True)
        check("chain without a gap, spool verify OK",
              rc == 0 and seqs == list(range(1, len(seqs) + 1)) and v.returncode == 0,
              (seqs, v.stdout, v.stderr))
        agent.dump_if_failed()
    finally:
        subprocess.run(["umount", "-l", mnt])

finish()
