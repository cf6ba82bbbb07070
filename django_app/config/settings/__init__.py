"""Settings modules: ``base`` (shared), ``local``, ``test`` and ``production``."""
