"""A real S3-compatible server for tests: moto's standalone server over HTTP on a free localhost port, one per
test module, and a fresh bucket per test."""

from uuid import uuid4

import boto3
import pytest
from moto.server import ThreadedMotoServer

S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_storage_config(endpoint, bucket):
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket, "endpoint_url": endpoint, "access_key": "testing", "secret_key": "testing",
            "region_name": "us-east-1", "addressing_style": "path", "default_acl": None, "querystring_auth": True,
            "file_overwrite": False,
        },
    }


@pytest.fixture
def bucket(s3_endpoint):
    name = f"test-{uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    s3.create_bucket(Bucket=name)
    return s3, name


@pytest.fixture
def s3(settings, s3_endpoint, bucket):
    """The default storage is S3, as in production with AWS_STORAGE_BUCKET_NAME set."""
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_config(s3_endpoint, bucket[1])}
    return bucket
