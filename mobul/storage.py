"""What the project's code asks of a storage backend beyond Django's API."""

from storages.backends.s3 import S3Storage


def presigns(storage):
    """Whether `storage` hands out short-lived signed URLs itself (S3), unless it is set up to give public or CDN
    addresses."""
    return isinstance(storage, S3Storage) and storage.querystring_auth and not storage.custom_domain
