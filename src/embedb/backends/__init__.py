"""Adapters of the contract: ``local`` (the engine in this process) and ``http`` (a client of ``embedb serve``).

Each is a ``Client`` (``embedb.client``): it inherits every operation of
``Backend`` (``embedb.contract``) and carries them out in ``_dispatch``.
``embedb.connect`` picks one from the URI; nothing imports an adapter but
``connect`` and the code that serves it.
"""
