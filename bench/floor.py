"""The floor client of issue 17: create and start VMs on a Proxmox VE API (fakepve in `make bench`)
the plainest way a script can, as a proxmoxer script would: per VM one POST with start=1, then
task status reads (at once, then 50 ms, doubling, capped at 1 s), THREADS VMs at a time.

Usage: python bench/floor.py --url https://127.0.0.1:PORT --token-id USER@REALM!NAME
           --token-secret-file FILE [--ca-file FILE] --first-vmid N [--count 100]
           [--threads 8] [--node pve1]

Prints one JSON line: {"vms", "wall_secs", "requests", "requests_per_vm", "failed"}. The requests
are the ones this script sent (an API token: no login). The standard library only, so it runs
with any Python 3."""
import argparse
import json
import ssl
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="https://HOST:PORT")
    p.add_argument("--token-id", required=True)
    p.add_argument("--token-secret-file", required=True)
    p.add_argument("--ca-file", help="CA bundle of the server (default: no verification)")
    p.add_argument("--first-vmid", type=int, required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--node", default="pve1")
    a = p.parse_args()
    with open(a.token_secret_file) as f:
        secret = f.read().strip()
    if a.ca_file:
        ctx = ssl.create_default_context(cafile=a.ca_file)
        ctx.check_hostname = False
    else:
        ctx = ssl._create_unverified_context()
    base = a.url.rstrip("/") + "/api2/json"
    headers = {"Authorization": "PVEAPIToken={0}={1}".format(a.token_id, secret)}

    def call(method, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data else None
        req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
        with urllib.request.urlopen(req, context=ctx) as r:
            return json.load(r)["data"]

    def one(vmid):
        """Create and start one VM; (requests sent, ended OK)."""
        upid = call("POST", "/nodes/{0}/qemu".format(a.node),
                    {"vmid": vmid, "name": "floor-{0}".format(vmid), "memory": 512, "cores": 1,
                     "scsi0": "local-lvm:8", "start": 1})
        n, wait = 1, 0.05
        while True:
            st = call("GET", "/nodes/{0}/tasks/{1}/status".format(a.node, urllib.parse.quote(upid)))
            n += 1
            if st["status"] == "stopped":
                return n, st.get("exitstatus") == "OK"
            time.sleep(wait)
            wait = min(wait * 2, 1.0)

    start = time.monotonic()
    with ThreadPoolExecutor(a.threads) as ex:
        results = list(ex.map(one, range(a.first_vmid, a.first_vmid + a.count)))
    wall = time.monotonic() - start
    requests = sum(n for n, _ in results)
    json.dump({"vms": a.count, "wall_secs": wall, "requests": requests,
               "requests_per_vm": requests / a.count,
               "failed": sum(1 for _, ok in results if not ok)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
