"""The key types the answers file may name, and what each means for signing."""

from __future__ import annotations

from enum import StrEnum


class KeyType(StrEnum):
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    ED25519 = "ed25519"

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa-")

    @property
    def is_ecdsa(self) -> bool:
        return self.value.startswith("ecdsa-")

    @property
    def rsa_bits(self) -> int:
        if not self.is_rsa:
            raise ValueError(f"{self.value} is not an RSA key type")
        return int(self.value.split("-")[1])
