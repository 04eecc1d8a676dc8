from django.conf import settings
from rest_framework import serializers

from ..choices import Side
from ..models import Proof, ProofPiece


def _proof_url(proof, suffix):
    return f"{settings.PUBLIC_BASE_URL}/api/v1/campaigns/{proof.campaign_id}/proofs/{proof.version}/{suffix}"


class FindingSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="The piece (its position in the proof).")
    recipient_id = serializers.IntegerField()
    side = serializers.ChoiceField(choices=Side.choices)
    kind = serializers.CharField()
    message = serializers.CharField()


class ProofPieceSerializer(serializers.ModelSerializer):
    recipient_name = serializers.CharField(source="recipient.__str__", read_only=True)
    front_thumbnail_url = serializers.SerializerMethodField()
    back_thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = ProofPiece
        fields = ["position", "recipient", "recipient_name", "reasons", "front_thumbnail_url", "back_thumbnail_url"]
        read_only_fields = fields

    def get_front_thumbnail_url(self, piece) -> str:
        return _proof_url(piece.proof, f"thumbnail/?piece={piece.position}&side={Side.FRONT}")

    def get_back_thumbnail_url(self, piece) -> str:
        return _proof_url(piece.proof, f"thumbnail/?piece={piece.position}&side={Side.BACK}")


class ProofSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    stale = serializers.SerializerMethodField(
        help_text="The template or the mailing list changed since the proof was made: it proofs nothing.")
    findings = FindingSerializer(many=True, read_only=True)
    pieces = ProofPieceSerializer(many=True, read_only=True)
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Proof
        fields = ["version", "campaign", "status", "stale", "pieces_done", "pieces_total", "progress_percent",
                  "findings", "pieces", "pdf_url", "error_message", "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_stale(self, proof) -> bool:
        return proof.fingerprint != self.context["fingerprint"]

    def get_pdf_url(self, proof) -> str | None:
        return _proof_url(proof, "pdf/") if proof.pdf else None
