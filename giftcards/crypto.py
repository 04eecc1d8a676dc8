"""Gift-card codes at rest: encrypted with Fernet (AES + HMAC), looked up by a keyed hash.

Keys come from settings. GIFT_CARD_ENCRYPTION_KEYS lists Fernet keys, newest first: new codes use the first,
any listed key decrypts, and `rotate_gift_card_keys` re-encrypts old rows with the newest. The lookup hash
is an HMAC with its own key, so a database dump alone can neither read codes nor test guesses against them.
"""

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys):
    if not keys:
        raise ImproperlyConfigured("GIFT_CARD_ENCRYPTION_KEYS is empty: gift-card codes cannot be stored.")
    return MultiFernet([Fernet(key) for key in keys])


def _keys():
    return tuple(settings.GIFT_CARD_ENCRYPTION_KEYS)


def normalize_code(code):
    return "".join(code.split())


def encrypt_code(code):
    return _fernet(_keys()).encrypt(code.encode()).decode()


def decrypt_code(token):
    try:
        return _fernet(_keys()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured("A gift-card code was encrypted with a key that is no longer configured.") from None


def rotate_token(token):
    return _fernet(_keys()).rotate(token.encode()).decode()


def code_hash(code):
    key = settings.GIFT_CARD_HASH_KEY.encode()
    return hmac.new(key, normalize_code(code).encode(), hashlib.sha256).hexdigest()


def last4(code):
    return normalize_code(code)[-4:]
