import pytest

from mailpieces.exceptions import TemplateError
from mailpieces.render import MailPieceRenderer
from mailpieces.tests.factories import add_recipient, campaign_with

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("front", ["<div>unclosed", "<!-- never ends", "<textarea>", "<table><tr><td>cell"])
def test_a_side_that_would_swallow_the_next_pieces_is_refused_with_a_reason(tenant_a, front):
    campaign = campaign_with(tenant_a.client, front=front)
    with pytest.raises(TemplateError) as refused:
        MailPieceRenderer(campaign)
    assert refused.value.field == "front_html" and "close every element" in refused.value.message


def test_styles_apply_once_per_document_to_their_side_and_merge_fields_stay_out_of_them(tenant_a):
    campaign = campaign_with(
        tenant_a.client, front="<style>.mobul-front p { color: rgb(1, 2, 3) } /* {{ first_name }} */</style><p>x</p>",
        back='<STYLE type="text/css">.mobul-back p > b { color: red }</STYLE><p><b>y</b></p>')
    renderer = MailPieceRenderer(campaign)
    recipients = [add_recipient(campaign, n) for n in range(3)]
    markup = renderer.document_html([renderer.sides_html(renderer.merge_values(r)) for r in recipients])
    assert markup.count("<style>") == 2 and markup.count("rgb(1, 2, 3)") == 1
    assert "{{ first_name }}" in markup and ".mobul-back p > b" in markup
    assert len(renderer.render(recipients).document.pages) == 6
