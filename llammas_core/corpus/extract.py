"""HTML -> text with trafilatura, through datatrove, keeping every failure with its reason.

datatrove's extractor counts timeouts, crashes and empty results in its stats but drops the
documents; here each one is written to an exclusion writer with `filter_reason`, like the
quality filters do, so nothing is silently lost.
"""

from __future__ import annotations

import contextlib

from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.extractors.base import ExtractorSandbox
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.typeshelper import StatHints


class ExtractText(Trafilatura):
    name = "⛏ trafilatura"

    def __init__(self, timeout: float = 1.0, favour_precision: bool = True, exclusion_writer: DiskWriter | None = None):
        super().__init__(favour_precision=favour_precision, timeout=timeout, deduplicate=True)
        self.exclusion_writer = exclusion_writer

    def _reject(self, writer, doc, reason: str, rank: int):
        self.stat_update(reason, StatHints.dropped)
        if writer:
            doc.metadata["filter_reason"] = reason
            writer.write(doc, rank=rank)

    def run(self, data, rank: int = 0, world_size: int = 1):
        writer_ctx = self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext()
        with writer_ctx as writer, ExtractorSandbox(timeout=self.timeout, warmup_text="") as sandbox:
            for doc in data:
                self.stat_update(StatHints.total)
                html = doc.text
                with self.track_time():
                    try:
                        text = sandbox.process_document(html, self.extract)
                    except TimeoutError:
                        self._reject(writer, doc, "extract_timeout", rank)
                        continue
                    except EOFError:  # the sandboxed worker died (e.g. lxml crash); a new one starts
                        self._reject(writer, doc, "extract_crashed", rank)
                        continue
                    except Exception as e:  # trafilatura raises many types on hostile HTML
                        self._reject(writer, doc, f"extract_error:{type(e).__name__}", rank)
                        continue
                if not text:
                    self._reject(writer, doc, "extract_empty", rank)
                    continue
                doc.text = text
                doc.metadata["extracted"] = True
                self.stat_update(StatHints.forwarded)
                self.update_doc_stats(doc)
                yield doc
