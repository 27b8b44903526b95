"""The floor client of issue 17: create and start 100 VMs on a fakepve, each with one POST
(start=1) and task status reads (at once, then 50 ms, doubling, capped at 1 s), 8 at a time.

Usage: python3 bench/floor.py FIRST_VMID  (fakepve on https://127.0.0.1:18736, root@pam/secret).
Not yet run by `make bench`."""
import json, ssl, sys, time, urllib.request, urllib.parse
from concurrent.futures import ThreadPoolExecutor
URL = "https://127.0.0.1:18736/api2/json"
ctx = ssl._create_unverified_context()
def call(method, path, data=None, hdr=None):
    body = urllib.parse.urlencode(data).encode() if data else None
    req = urllib.request.Request(URL + path, data=body, method=method, headers=hdr or {})
    with urllib.request.urlopen(req, context=ctx) as r:
        return json.load(r)["data"]
t = call("POST", "/access/ticket", {"username": "root@pam", "password": "secret"})
H = {"Cookie": "PVEAuthCookie=" + t["ticket"], "CSRFPreventionToken": t["CSRFPreventionToken"]}
def one(vmid):
    upid = call("POST", "/nodes/pve1/qemu", {"vmid": vmid, "name": f"f-{vmid}", "memory": 512, "cores": 1, "scsi0": "local-lvm:8", "start": 1}, H)
    n = 1; wait = 0.05
    while True:
        st = call("GET", f"/nodes/pve1/tasks/{urllib.parse.quote(upid)}/status", None, H); n += 1
        if st["status"] == "stopped":
            return n
        time.sleep(wait); wait = min(wait * 2, 1.0)
start = time.time()
with ThreadPoolExecutor(8) as ex:
    total = sum(ex.map(one, range(int(sys.argv[1]), int(sys.argv[1]) + 100)))
print(f"floor: 100 VMs in {time.time()-start:.2f} s, {total/100:.2f} requests per VM")
