"""The hicra run directory: the format every trainer writes and `hicra analyze` reads.

    >>> import tempfile
    >>> from hicra.runs import RunReader, RunWriter
    >>> run = tempfile.mkdtemp()
    >>> with RunWriter(run, {"credit_mode": "hicra"}) as writer:
    ...     writer.log_metrics(1, {"accuracy": 0.5})
    >>> [row["accuracy"] for row in RunReader(run).metrics()]
    [0.5]

`RunWriter` / `RunReader` (rundir.py) write and read one run directory (docs/run-directory.md);
readers.py streams records from it and from other dumps (verl's `rollout_data_dir`, plain
JSONL/parquet). Only the standard library is needed to import this package; parquet files
load pyarrow when read or written.
"""

from hicra.runs.readers import FORMATS, FieldMap, InputFormatError, detect_format, iter_records
from hicra.runs.rundir import RunReader, RunWriter, rollout_path

__all__ = [
    "FORMATS",
    "FieldMap",
    "InputFormatError",
    "RunReader",
    "RunWriter",
    "detect_format",
    "iter_records",
    "rollout_path",
]
