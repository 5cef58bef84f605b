"""Signs one element of a SAML document with signxml (enveloped, exclusive C14N).

usage: signxml_sign.py IN OUT KEY CERT REFERENCE_ID SIGNATURE_METHOD_URI DIGEST_URI
The document holds a <ds:Signature Id="placeholder"/> where the signature goes.
"""
import sys

from lxml import etree
from signxml import XMLSigner, methods
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

inp, out, key, cert, ref, alg, dig = sys.argv[1:8]
root = etree.parse(inp).getroot()
signer = XMLSigner(
    method=methods.enveloped,
    signature_algorithm=SignatureMethod(alg),
    digest_algorithm=DigestAlgorithm(dig),
    c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
)
with open(key, "rb") as k, open(cert, "r") as c:
    signed = signer.sign(root, key=k.read(), cert=c.read(), reference_uri=ref, id_attribute="ID")
with open(out, "wb") as o:
    o.write(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
