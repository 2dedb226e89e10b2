"""`contact import`: read CSV, a JSON array or NDJSON, validate each record, and hand the
valid ones in chunks to the store, which upserts them set-based.

Reading is streamed: CSV and NDJSON line by line, a JSON array element by element, so
memory stays flat whatever the file size. All SQL lives in crmctl.store.imports.

Modules, in the order a record passes through them:
  decoding  bytes → text (BOM, encodings, bad bytes by line)
  readers   the formats: CSV, NDJSON, JSON array → (label, record)
  records   one record → a validated Contact, or a bad record with its reason
  run       the pipeline: stage in chunks, reject repeats and suppressed, apply, report
"""

from crmctl.importer.readers import choose_format
from crmctl.importer.run import ImportReport, import_contacts

__all__ = ["ImportReport", "choose_format", "import_contacts"]
