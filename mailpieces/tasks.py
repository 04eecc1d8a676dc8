from celery import shared_task

from . import proofs


@shared_task(acks_late=True)
def generate_proof(proof_id):
    """Renders one proof. A message delivered twice does nothing more: only a pending proof is claimed."""
    proofs.generate(proof_id)


@shared_task
def sweep_proofs():
    """Every minute: proofs whose message was lost are queued again, those whose worker died fail (proofs.sweep)."""
    return proofs.sweep()
