"""serve.yaml: what ``rempart serve`` listens on, who may send, where it journals and stores, what it runs.

Validated like the other files: every mistake names the file, line and field. Relative paths are read from
the folder of serve.yaml. See ``examples/serve.yaml``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rempart.serve.http import HttpInput
from rempart.serve.senders import SendersConfig
from rempart.serve.syslog import SyslogInput
from rempart.serve.tail import TailInput
from rempart.yamldoc import load_model

MiB = 1 << 20

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

class Inputs(_Strict):
    syslog: list[SyslogInput] = Field(default_factory=list)
    http: list[HttpInput] = Field(default_factory=list)
    files: list[TailInput] = Field(default_factory=list)

class JournalConfig(_Strict):
    path: Path = Path("journal")
    segment_mb: int = Field(default=64, ge=1)
    retain_mb: int = Field(default=0, ge=0, description="processed segments kept, for a replay by hand")
    min_free_mb: int = Field(default=256, ge=0, description="below this free space, senders wait")
    max_lag_records: int = Field(default=2_000_000, ge=1000, description="beyond, senders wait")

class DetectConfig(_Strict):
    rules: list[Path] = Field(min_length=1, description="folders of Sigma rules")
    tuning: Path | None = None
    cache: Path | None = Path("rule-cache")
    # a batch costs about 0.8 s of detection whatever its size (DuckDB binds every scope's rules), so under
    # load batches grow to this: the ceiling is about batch_records / 0.8 s (benchmarks/stream_detect.py)
    batch_records: int = Field(default=50_000, ge=1, le=500_000)
    batch_ms: int = Field(default=200, ge=1, le=10_000)
    lateness_s: float = Field(default=2.0, ge=0, description="how late an event may come and still count "
                              "in the correlation windows it belongs to")
    min_level: str = "medium"  # alerts below this level open no incident

class ApproversConfig(_Strict):
    """How the approvers of a step waiting for them are told at once, out of band."""

    relay: Path | None = Field(default=None, description="relay.yaml of the out-of-band SMTP relay")
    mail: dict[str, str] = Field(default_factory=dict, description="plan person id → mail address")
    webhook_url: str | None = Field(default=None, description="an SMS gateway or chat webhook (POST JSON)")


class ServeConfig(_Strict):
    group: Path
    plan: Path | None = None
    adapters: Path | None = None
    events: Path = Path("events.duckdb")
    cases: str | None = Field(default=None, description="case store URL; default: REMPART_DATABASE_URL")
    journal: JournalConfig = Field(default_factory=JournalConfig)
    detect: DetectConfig
    inputs: Inputs = Field(default_factory=Inputs)
    senders: SendersConfig = Field(default_factory=SendersConfig)
    approvers: ApproversConfig = Field(default_factory=ApproversConfig)

    @model_validator(mode="after")
    def _names(self) -> ServeConfig:
        names = [i.name for i in self.inputs.syslog] + [i.name for i in self.inputs.http] + \
            [i.name for i in self.inputs.files]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two inputs are named {name!r}: each input needs its own name")
        if not names:
            raise ValueError("no input: declare at least one under inputs (syslog, http or files)")
        return self

    def resolved(self, base: Path) -> ServeConfig:
        """The same configuration with its relative paths read from ``base`` (serve.yaml's folder)."""

        def at(p: Path | None) -> Path | None:
            return None if p is None else (p if p.is_absolute() else base / p)

        detect = self.detect.model_copy(update={
            "rules": [at(r) for r in self.detect.rules], "tuning": at(self.detect.tuning),
            "cache": at(self.detect.cache)})

        def tls(spec: SyslogInput | HttpInput) -> dict[str, Path | None]:
            names = ["tls_cert", "tls_key"] + (["tls_ca"] if isinstance(spec, SyslogInput) else [])
            return {n: at(getattr(spec, n)) for n in names}

        def glob(pattern: str) -> str:
            return pattern if Path(pattern).is_absolute() else str(base / pattern)

        inputs = Inputs(
            syslog=[i.model_copy(update=tls(i)) for i in self.inputs.syslog],
            http=[i.model_copy(update=tls(i)) for i in self.inputs.http],
            files=[i.model_copy(update={"paths": [glob(p) for p in i.paths]}) for i in self.inputs.files])
        return self.model_copy(update={
            "inputs": inputs,
            "group": at(self.group), "plan": at(self.plan), "adapters": at(self.adapters),
            "events": at(self.events), "detect": detect,
            "journal": self.journal.model_copy(update={"path": at(self.journal.path)}),
            "approvers": self.approvers.model_copy(update={"relay": at(self.approvers.relay)}),
        })


def load_serve_config(path: Path) -> ServeConfig:
    return load_model(ServeConfig, path).resolved(path.resolve().parent)
