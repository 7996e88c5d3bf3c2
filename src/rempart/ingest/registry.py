"""The registry of readers, and format detection by file name and content sniffing."""

from __future__ import annotations

from rempart.ingest.interface import Reader


class ReaderRegistry:
    def __init__(self) -> None:
        self._readers: dict[str, Reader] = {}
        self.modules: set[str] = set()  # modules that registered a reader (checked by the tests)

    def register(self, cls: type[Reader]) -> type[Reader]:
        reader = cls()
        if not reader.name or reader.name in self._readers:
            raise ValueError(f"reader {cls.__name__}: empty or duplicate name {reader.name!r}")
        self._readers[reader.name] = reader
        self.modules.add(cls.__module__)
        return cls

    def get(self, name: str) -> Reader:
        return self._readers[name]

    @property
    def names(self) -> list[str]:
        return sorted(self._readers)

    def detect(self, filename: str, head: bytes) -> Reader | None:
        """The reader for a stream: content sniffing decides, the extension breaks ties and adds weight.
        Each reader scores the shape of the first records (see :meth:`Reader.sniff`), so no value logged in
        a field can choose the reader of its file."""
        lower = filename.lower()
        for suffix in (".gz", ".tgz"):
            if lower.endswith(suffix):
                lower = lower[: -len(suffix)]
        best: tuple[int, Reader | None] = (0, None)
        for reader in self._readers.values():
            score = reader.sniff(head, lower)
            if score and any(lower.endswith(ext) for ext in reader.extensions):
                score += 10
            if score > best[0]:
                best = (score, reader)
        return best[1]


registry = ReaderRegistry()
