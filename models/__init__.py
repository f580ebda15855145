"""FCN net definitions: one folder per net (models/<name>/net.py), shared
NetSpec building blocks in :mod:`models.common`, and :mod:`models.generate`
to rewrite every prototxt at once."""
