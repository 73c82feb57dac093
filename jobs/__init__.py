"""labellake jobs: the Spark jobs of the relabel pipeline and the code they share.

Where to look:

- ``jobs.ingest``        source files -> source, gold and quarantine tables
- ``jobs.apply_lfs``     source table -> votes table (+ LF registry)
- ``jobs.fit_label_model`` votes -> vote-pattern counts -> candidate labels (staging)
- ``jobs.validate``      Great Expectations gate on the staging labels
- ``jobs.publish``       staging -> labels table, one atomic Delta commit
- ``jobs.pipeline``      all stages in one process (the ``labellake run`` CLI)
"""

__version__ = "0.1.0"
