"""ArgoCD health checks for kubepve's kinds, run in Lua 5.1 (the dialect of ArgoCD's gopher-lua)
through lupa, against the sample objects of each kind's health_test.yaml (ArgoCD's own test
format): healthy, progressing, degraded, deleting and no status yet.

Run by `make argocd-health-test` in .venv-helm.
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path
from typing import Any

import yaml
from lupa import lua51

ROOT = Path(__file__).resolve().parents[2]
CUSTOMIZATIONS = ROOT / "docs" / "argocd" / "resource_customizations" / "kubepve.io"
SCRIPT = ROOT / "docs" / "argocd" / "health.lua"
KINDS = [
    "ProxmoxConnection",
    "ProxmoxVM",
    "ProxmoxContainer",
    "ProxmoxSnapshot",
    "ProxmoxSnapshotSchedule",
    "ProxmoxSnapshotRestore",
    "ProxmoxVMSet",
]
ARGOCD_STATES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

sys.path.insert(0, str(Path(__file__).resolve().parent))
import argocd_cm  # noqa: E402


def health(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Runs a health.lua the way ArgoCD does: `obj` is a global, the script returns a table."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=False)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    if result is None:
        raise AssertionError("health.lua returned nothing")
    return {key: result[key] for key in ("status", "message") if result[key] is not None}


def phases(kind: str) -> set[str]:
    """The status.phase values the CRD of `kind` allows (so that samples use real phases)."""
    for path in sorted((ROOT / "crds").glob("*.kubepve.io.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["names"]["kind"] == kind:
            schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            phase = schema["properties"]["status"]["properties"].get("phase", {})
            return set(phase.get("enum", []))
    raise AssertionError(f"no CRD for {kind}")


class HealthChecks(unittest.TestCase):
    def test_every_kind_has_cases(self) -> None:
        for kind in KINDS:
            folder = CUSTOMIZATIONS / kind
            cases = yaml.safe_load((folder / "health_test.yaml").read_text())["tests"]
            states = {c["healthStatus"]["status"] for c in cases}
            self.assertTrue(
                {"Healthy", "Progressing", "Degraded"} <= states,
                f"{kind}: samples cover healthy, progressing and degraded ({states})",
            )
            names = {Path(c["inputPath"]).stem for c in cases}
            self.assertIn("no-status", names, f"{kind}: a sample without status")

    def test_samples_get_the_expected_health(self) -> None:
        for kind in KINDS:
            known_phases = phases(kind)
            folder = CUSTOMIZATIONS / kind
            script = SCRIPT.read_text()
            for case in yaml.safe_load((folder / "health_test.yaml").read_text())["tests"]:
                with self.subTest(kind=kind, sample=case["inputPath"]):
                    obj = yaml.safe_load((folder / case["inputPath"]).read_text())
                    self.assertEqual(obj["kind"], kind)
                    phase = (obj.get("status") or {}).get("phase")
                    if phase is not None:
                        self.assertIn(phase, known_phases, "sample uses a phase the CRD allows")
                    got = health(script, obj)
                    self.assertIn(got["status"], ARGOCD_STATES)
                    self.assertEqual(got, case["healthStatus"])

    def test_deleting_guest_is_never_healthy(self) -> None:
        # A guest being torn down must not count as Healthy in ArgoCD, even with a stale Ready.
        script = SCRIPT.read_text()
        obj = yaml.safe_load((CUSTOMIZATIONS / "ProxmoxVM" / "testdata" / "healthy.yaml").read_text())
        obj["metadata"]["deletionTimestamp"] = "2026-11-01T11:00:00Z"
        self.assertEqual(health(script, obj), {"status": "Progressing", "message": "Deleting"})

    def test_argocd_cm_embeds_the_scripts(self) -> None:
        have = (ROOT / "docs" / "argocd" / "argocd-cm.yaml").read_text()
        self.assertEqual(have, argocd_cm.render(), "docs/argocd/argocd-cm.yaml is out of date: run `make generate`")
        data = yaml.safe_load(have)["data"]
        for kind in KINDS:
            key = f"resource.customizations.health.kubepve.io_{kind}"
            self.assertEqual(data[key], SCRIPT.read_text(), key)


if __name__ == "__main__":
    unittest.main()
