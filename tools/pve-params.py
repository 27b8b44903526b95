"""Derive crates/pvectl/src/pve_params.json from the official PVE API schema.

    python3 tools/pve-params.py /path/to/pve-api-schema.json > crates/pvectl/src/pve_params.json

pvectl checks guest config keys before its first request (issue 15: a create that fails after
cloning leaves a half-made guest). It needs only the constraints of the qemu and lxc create and
config parameters: their names, types, ranges, enumerations, lengths, `dns-name` formats, and
the keys of inline property strings. This keeps exactly that (no descriptions, nothing else).
"""

import json
import sys

# Request parameters that are not guest config keys (`--set` cannot give them).
NOT_CONFIG = {'node', 'vmid', 'digest', 'delete', 'revert', 'skiplock'}


def find(tree, path):
    for n in tree:
        if n.get('path') == path:
            return n
        r = find(n.get('children', []), path)
        if r:
            return r
    return None


def constraint(sch):
    out = {'t': sch.get('type', 'string')[0]}
    for src, dst in (('minimum', 'min'), ('maximum', 'max'), ('maxLength', 'ml')):
        if src in sch:
            out[dst] = float(sch[src])
    if 'enum' in sch:
        out['enum'] = [str(e) for e in sch['enum']]
    if sch.get('format') == 'dns-name':
        out['f'] = 'dns-name'
    return out


def key(sch):
    out = constraint(sch)
    fmt = sch.get('format')
    if isinstance(fmt, dict):
        sub = {}
        for name, s in fmt.items():
            if 'alias' in s:
                sub[name] = {'alias': s['alias']}
                continue
            sub[name] = constraint(s)
            if s.get('default_key'):
                out['dk'] = name
        out['sub'] = sub
    return out


def params(schema, kind):
    props = {}
    for path, method in ((f'/nodes/{{node}}/{kind}', 'POST'),
                         (f'/nodes/{{node}}/{kind}/{{vmid}}/config', 'PUT')):
        node = find(schema, path)
        props.update(node['info'][method]['parameters']['properties'])
    return {k: key(v) for k, v in sorted(props.items()) if k not in NOT_CONFIG}


def main():
    schema = json.load(open(sys.argv[1]))
    out = {'qemu': params(schema, 'qemu'), 'lxc': params(schema, 'lxc')}
    json.dump(out, sys.stdout, separators=(',', ':'), sort_keys=True)
    sys.stdout.write('\n')


main()
