"""Run one reviewable :class:`Operation` of kind ``exec``: an argv list, never a shell string."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from rempart.respond.interface import AdapterError, Operation

OUTPUT_KEPT = 400  # characters of output journaled per command: enough to diagnose, not a log dump


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, object]:
        return {
            "argv": list(self.argv),
            "rc": self.rc,
            "stdout": self.stdout[-OUTPUT_KEPT:],
            "stderr": self.stderr[-OUTPUT_KEPT:],
        }


def run(op: Operation, timeout: float, check: bool = True) -> Completed:
    if op.kind != "exec" or not op.argv:
        raise AdapterError(f"not an executable operation: {op.to_dict()}")
    try:
        proc = subprocess.run(
            list(op.argv),
            input=op.stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AdapterError(f"{op.argv[0]} timed out after {timeout:g} s") from None
    except FileNotFoundError:
        raise AdapterError(f"command not found: {op.argv[0]}") from None
    done = Completed(op.argv, proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise AdapterError(f"{' '.join(op.argv[:4])}… exited {proc.returncode}: {proc.stderr.strip()[:300]}")
    return done
