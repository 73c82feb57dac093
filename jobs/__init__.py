"""labellake jobs: the Spark jobs of the relabel pipeline and the code they share.

Where to look:

- ``jobs.stages.ingest.stage``        source files -> source, gold and quarantine tables
- ``jobs.stages.apply.stage``     source table -> votes table (+ LF registry)
- ``jobs.stages.fit.stage`` votes -> vote-pattern counts -> candidate labels (staging)
- ``jobs.stages.validate``      Great Expectations gate on the staging labels
- ``jobs.stages.publish.stage``       staging -> labels table, one atomic Delta commit
- ``jobs.pipeline``      all stages in one process (the ``labellake run`` CLI)
"""

__version__ = "0.1.0"
