"""Runs the bad-input battery (``bad_input_battery.py``) in a subprocess, so that a segfault or
an abort in any case fails that case's test instead of killing the test run."""
import json
import os
import subprocess
import sys

import pytest

from bad_input_battery import CASES
from helpers import subprocess_env

HERE = os.path.dirname(os.path.abspath(__file__))
pytestmark = pytest.mark.slow  # the battery runs in a subprocess of its own (4 s and more)


@pytest.fixture(scope="module")
def battery_results():
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "bad_input_battery.py")],
        capture_output=True, text=True, timeout=600, cwd=HERE, env=subprocess_env(),
    )
    results, started = {}, []
    for line in proc.stdout.splitlines():
        if line.startswith("START "):
            started.append(line[len("START "):])
        elif line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            results[result["name"]] = result
    return dict(returncode=proc.returncode, stderr=proc.stderr[-3000:], results=results, started=started)


def test_battery_process_exits_cleanly(battery_results):
    # A crash (negative return code: killed by a signal) names the case it was in.
    crashed_in = battery_results["started"][-1] if battery_results["started"] else None
    assert battery_results["returncode"] == 0, (
        f"battery process exited with {battery_results['returncode']} during {crashed_in!r}:\n{battery_results['stderr']}"
    )


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_bad_input_case(battery_results, name):
    result = battery_results["results"].get(name)
    assert result is not None, f"case {name!r} produced no result (the process died first?)"
    expected = next((exc.__name__, regex) for n, _, exc, regex in CASES if n == name)
    assert result["ok"], f"expected {expected[0]} matching {expected[1]!r}, got {result['raised']}: {result['message']}"
