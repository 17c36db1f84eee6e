"""The wizard's PKI, built on the ``cryptography`` library alone (never the ``openssl`` or ``pki`` tools).

One module per concern, imported by name (this package re-exports nothing):

- ``keytypes``: the key types the answers may name
- ``keys``: generating keys (``pool``: on every core), their type, comparing them
- ``names``: distinguished names and subjectAltNames
- ``issue``: CA, host and client certificates, CRLs
- ``encode``: PEM and PKCS#12
- ``reuse``: why an existing certificate does (not) fit the answers
- ``bundles``: many new clients at once
- ``certinfo``: readable summaries; ``ntlm``: NT hashes for EAP-MSCHAPv2
"""
