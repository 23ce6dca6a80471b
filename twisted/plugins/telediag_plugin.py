"""twistd's entry for telediag: ``twistd -n telediag [--config FILE] [--data-dir DIR]`` (see telediag.tap).

This folder is part of Twisted's ``twisted.plugins`` namespace: it has no ``__init__.py``.
"""

from twisted.application.service import ServiceMaker

telediag = ServiceMaker(
    "telediag", "telediag.tap", "Telematics device diagnostics: ingest, store, diagnose, file tickets.", "telediag"
)
