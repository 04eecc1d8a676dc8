import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from mailpieces.models import TemplateAsset
from mailpieces.tests.factories import png_bytes

pytestmark = pytest.mark.django_db

MB = 1_048_576


def _file(size, name="image.png"):
    return ContentFile(png_bytes(4, 4).ljust(size, b"\0"), name=name)


@pytest.mark.parametrize("size, refused", [(2 * MB, False), (2 * MB + 1, True)])
def test_a_client_logo_is_at_most_2_mb(tenant_a, size, refused):
    client = tenant_a.client
    client.logo = _file(size)
    if refused:
        with pytest.raises(ValidationError, match=r"The file is 2\.0 MB; the limit is 2 MB") as error:
            client.full_clean()
        assert list(error.value.message_dict) == ["logo"]
    else:
        client.full_clean()


@pytest.mark.parametrize("size, refused", [(25 * MB, False), (25 * MB + 1, True)])
def test_a_template_asset_is_at_most_25_mb(tenant_a, size, refused):
    asset = TemplateAsset(client=tenant_a.client, name="photo", image=_file(size))
    if refused:
        with pytest.raises(ValidationError, match="the limit is 25 MB") as error:
            asset.full_clean()
        assert list(error.value.message_dict) == ["image"]
    else:
        asset.full_clean()
