"""kubepve's launcher around fakepve: serve it on loopback and expose a control channel.

fakepve (PyPI, AGPL) is run as a library inside this process, never copied. This file only
starts it, seeds it and sets its faults, because those are Python calls on the FakePve object.

    python launcher.py --cert server.crt --key server.key [--time-scale 0]

When both listeners are up it prints one JSON line on stdout:

    {"url": "https://127.0.0.1:PORT", "control": "http://127.0.0.1:CPORT", "fakepve": "0.5.0"}

The control channel is plain HTTP on loopback: POST /op with a JSON object {"op": NAME, ...}
answers {"ok": true, "result": ...} or {"ok": false, "error": "..."} with status 400. It exits when
stdin closes (the test process went away) or on the `shutdown` op.
"""

import argparse
import asyncio
import json
import sys

try:
    import fakepve
    from fakepve import FakePve, TaskError
except ImportError as exc:  # the Rust harness shows this text when the launcher dies
    print('fakepve is not installed in this Python ({0}): run `make venv`'.format(exc), file=sys.stderr, flush=True)
    sys.exit(3)

from aiohttp import web

HOST = '127.0.0.1'


class WarningLog(list):
    """A task log that turns the final `TASK OK` into `TASK WARNINGS: n`.

    fakepve's tasks end with OK or ERROR only. PVE also ends tasks with warnings, and a client must
    report those as success. The swap happens in the same synchronous step in which fakepve writes
    the end of the task, so no status request can see `OK` first.
    """

    def __init__(self, record, count, items):
        super().__init__(items)
        self.record = record
        self.count = count

    def append(self, line):
        if line == 'TASK OK':
            self.record['exitstatus'] = 'WARNINGS: {0}'.format(self.count)
            line = 'TASK WARNINGS: {0}'.format(self.count)
        super().append(line)


class NodeMemory(object):
    """Per-node memory figures in `/cluster/resources` and `/nodes`.

    fakepve reports the same memory use for every node; placement tests need nodes that differ.
    The figures set here replace `mem` and `maxmem` of those nodes in the answers, through a
    middleware wrapped around fakepve's own (installed before the server starts).
    """

    def __init__(self):
        self.nodes = {}

    def wrap(self, inner):
        @web.middleware
        async def middleware(request, handler):
            response = await inner(request, handler)
            if self.nodes and request.method == 'GET' and request.path.endswith(('/cluster/resources', '/nodes')):
                self._patch(response)
            return response
        return middleware

    def _patch(self, response):
        try:
            answer = json.loads(response.body)
        except (TypeError, ValueError):
            return
        for item in answer.get('data') or []:
            figures = self.nodes.get(item.get('node'))
            if figures and item.get('type', 'node') == 'node' and 'maxmem' in item:
                item.update(figures)
        response.body = json.dumps(answer).encode('utf-8')


class Control(object):
    """The ops of the control channel, one method per op."""

    def __init__(self, pve, stop, node_memory):
        self.pve = pve
        self.stop = stop
        self.node_memory = node_memory

    async def op_node_memory(self, node, maxmem, mem):
        """Report `maxmem` bytes of memory on `node`, `mem` of them in use."""
        self.node_memory.nodes[node] = {'maxmem': int(maxmem), 'mem': int(mem)}

    async def op_add_node(self, name, online=True):
        self.pve.add_node(name, online=online)

    async def op_add_vm(self, vmid, name, node='pve1', status='stopped', config=None, template=False,
                        lock=None, pool=None, **attrs):
        vm = self.pve.add_vm(vmid, name, node=node, status=status, config=config or {}, template=template,
                             lock=lock, pool=pool)
        if lock:
            vm.config['lock'] = lock
        self._set_attrs(vm, attrs)

    async def op_add_vms(self, vms):
        """Seed many VMs in one request (each item takes op_add_vm's arguments)."""
        for vm in vms:
            await self.op_add_vm(**vm)
        return len(vms)

    async def op_add_ct(self, vmid, name, node='pve1', status='stopped', config=None, template=False,
                        lock=None, ostemplate=None, **attrs):
        ct = self.pve.add_ct(vmid, name, node=node, status=status, config=config or {}, template=template,
                             lock=lock, ostemplate=ostemplate)
        self._set_attrs(ct, attrs)

    async def op_guest_attrs(self, vmid, **attrs):
        self._set_attrs(self._guest(vmid), attrs)

    @staticmethod
    def _set_attrs(guest, attrs):
        allowed = ('shutdown_secs', 'start_secs', 'stop_secs', 'start_error', 'acpi', 'ha_state')
        for key, value in attrs.items():
            if key not in allowed:
                raise ValueError('unknown guest attribute {0!r}; known: {1}'.format(key, ', '.join(allowed)))
            setattr(guest, key, value)

    def _guest(self, vmid):
        guest = self.pve.guest(int(vmid))
        if guest is None:
            raise ValueError('no guest {0}'.format(vmid))
        return guest

    async def op_guest(self, vmid):
        guest = self.pve.guest(int(vmid))
        if guest is None:
            return None
        return {'vmid': guest.vmid, 'node': guest.node, 'status': guest.status, 'lock': guest.lock,
                'config': dict(guest.config), 'pending': dict(getattr(guest, 'pending', {}) or {})}

    async def op_add_storage(self, name, type='dir', content='images', shared=0, avail=None, **options):
        store = {'type': type, 'active': 1, 'content': content, 'files': set(), 'shared': shared}
        if avail is not None:
            store['avail'] = avail
        store.update(options)
        self.pve.storages[name] = store

    async def op_store_file(self, storage, name, size, content='iso'):
        self.pve.store_file(storage, name, size, content=content)

    async def op_create_token(self, tokenid, secret):
        self.pve.apitokens[tokenid] = secret

    async def op_add_user(self, userid, password):
        self.pve.users[userid] = password

    async def op_grant(self, user, path, privs):
        self.pve.grant(user, path, *privs)

    async def op_fail(self, method, path, status=None, message=None, error=None, times=None):
        self.pve.fail(method, path, status=status, message=message, error=error, times=times)

    async def op_clear_faults(self):
        self.pve.failures.clear()
        self.pve.slow_network(0.0, 0.0)
        self.pve.network['node_latency'].clear()
        self.pve.flaky_network()

    async def op_slow_network(self, latency, jitter=0.0, node=None):
        self.pve.slow_network(latency, jitter=jitter, node=node)

    async def op_flaky_network(self, drop_rate=0.0, hang_rate=0.0, hang_secs=120, seed=None):
        self.pve.flaky_network(drop_rate=drop_rate, hang_rate=hang_rate, hang_secs=hang_secs, seed=seed)
        if seed is not None:
            self.pve._random.seed(seed)

    async def op_lock_guest(self, vmid, lock):
        self.pve.snapshot_lock(int(vmid), lock)

    async def op_unlock_guest(self, vmid):
        self.pve.unlock(int(vmid))

    async def op_hold_config_lock(self, vmid, secs=None):
        await self.pve.hold_config_lock(int(vmid), secs)

    async def op_release_config_lock(self, vmid):
        self.pve.release_config_lock(int(vmid))

    async def op_set_node_offline(self, node, offline=True):
        self.pve.set_node_offline(node, offline)

    async def op_lose_quorum(self):
        self.pve.lose_quorum()

    async def op_regain_quorum(self):
        self.pve.regain_quorum()

    async def op_revoke_tickets(self):
        self.pve.revoke_tickets()

    async def op_set(self, **knobs):
        allowed = ('time_scale', 'ticket_ttl', 'lock_wait', 'shutdown_default_timeout', 'ha_delay', 'version',
                   'release_version')
        for key, value in knobs.items():
            if key not in allowed:
                raise ValueError('unknown knob {0!r}; known: {1}'.format(key, ', '.join(allowed)))
            setattr(self.pve, key, value)

    async def op_task(self, node='pve1', type='qmstart', id='', user='root@pam', secs=0, log=(), warnings=0,
                      error=None):
        """A task of our own making on fakepve's task machinery: log lines, a duration, and an end."""
        pve = self.pve

        async def body():
            # Spread the lines over the task's duration so a watcher sees the log grow.
            step = secs / (len(log) + 1)
            for line in log:
                record['log'].append(line)
                await pve.pause(step)
            await pve.pause(step)
            if error:
                raise TaskError(error)
        record = None
        upid_box = []

        async def wrapped():
            nonlocal record
            # With time_scale 0 the body runs inside pve.task(), before the UPID is returned; the
            # record is then the newest one. Otherwise the UPID is known by the time the body runs.
            record = pve.tasks[upid_box[0]] if upid_box else pve.tasklog[-1]
            if warnings:
                record['log'] = WarningLog(record, warnings, record['log'])
            await body()
        upid = await pve.task(node, type, id, user, wrapped)
        upid_box.append(upid)
        return upid

    async def op_requests(self, since=0):
        """The requests fakepve saw, from index `since`: [method, path, body text]."""
        out = []
        for method, path, body in self.pve.requests[since:]:
            out.append([method, path, body.decode('utf-8', 'replace')])
        return {'next': len(self.pve.requests), 'requests': out}

    async def op_clear_requests(self):
        self.pve.requests.clear()

    async def op_tasks(self):
        return [dict((k, v) for k, v in t.items() if k != 'log') for t in self.pve.tasklog]

    async def op_answer_get(self, path, data):
        """Make `GET path` (`/cluster/ha/resources`) answer `data`, for the endpoints fakepve only
        answers generically (HA, replication and backup jobs); `data` None removes the answer."""
        if not path.startswith('/'):
            raise ValueError('path {0!r} must start with /'.format(path))
        if data is None:
            self.pve.canned_gets.pop(path, None)
        else:
            self.pve.canned_gets[path] = data

    async def op_shutdown(self):
        self.stop.set()


def serve_canned_gets(pve):
    """Put the answers of `answer_get` in front of fakepve's catch-all route. Authentication still
    runs first (fakepve's middleware); only the data of the catch-all is replaced."""
    pve.canned_gets = {}
    generic = pve._generic

    async def canned_or_generic(request):
        path = request.path
        for prefix in ('/api2/json', '/api2/extjs'):
            if path.startswith(prefix + '/'):
                path = path[len(prefix):]
        if request.method == 'GET' and path in pve.canned_gets:
            return web.json_response({'data': pve.canned_gets[path]})
        return await generic(request)
    # The app is built in start(), which looks the handler up on the instance.
    pve._generic = canned_or_generic


async def handle(control, request):
    try:
        body = await request.json()
        name = body.pop('op')
        method = getattr(control, 'op_' + name, None)
        if method is None:
            raise ValueError('unknown op {0!r}'.format(name))
        result = await method(**body)
        return web.json_response({'ok': True, 'result': result})
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the test as text
        return web.json_response({'ok': False, 'error': '{0}: {1}'.format(type(exc).__name__, exc)}, status=400)


async def watch_stdin(stop):
    """Stop when stdin closes: the test binary that started us has exited or dropped its handle."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        pass
    stop.set()


async def serve(args):
    pve = FakePve(user=args.user, password=args.password, host=HOST, port=0)
    pve.time_scale = args.time_scale
    node_memory = NodeMemory()
    pve._middleware = node_memory.wrap(pve._middleware)
    serve_canned_gets(pve)
    await pve.start(args.cert, args.key)
    stop = asyncio.Event()
    control = Control(pve, stop, node_memory)
    app = web.Application()
    app.router.add_post('/op', lambda request: handle(control, request))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    cport = runner.addresses[0][1]
    print(json.dumps({'url': pve.url, 'control': 'http://{0}:{1}'.format(HOST, cport),
                      'fakepve': fakepve.__version__}), flush=True)
    watcher = asyncio.ensure_future(watch_stdin(stop))
    await stop.wait()
    watcher.cancel()
    await runner.cleanup()
    await pve.stop()


def main():
    parser = argparse.ArgumentParser(description='fakepve on loopback with a control channel')
    parser.add_argument('--cert', required=True)
    parser.add_argument('--key', required=True)
    parser.add_argument('--user', default='root@pam')
    parser.add_argument('--password', default='secret')
    parser.add_argument('--time-scale', type=float, default=0.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == '__main__':
    main()
