"""The application file ``spark-submit`` runs for every DAG task.

``spark-submit jobs/spark_entry.py stage ingest --dataset youtube_spam --run-id R``
is the same code path as ``labellake stage ingest ...``.
"""

import sys

from jobs.cli.main import exit_with, main

if __name__ == "__main__":
    exit_with(main(sys.argv[1:]))
