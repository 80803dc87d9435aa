"""The SMS codec, pure (no I/O, no asyncio): 3GPP TS 23.038 alphabets and TS 23.040 PDUs in PDU mode.

Modules: pdu (the public interface: plan, encode_submit, decode_deliver, decode_status_report, decode_any, ...);
below it fields (octet reader, SMSC, addresses, timestamps, validity, DCS), parts (alphabet choice, where a long
text is cut), userdata (TP-UD with its header, concatenation and national shift IEs); gsm7 (the default alphabet,
septet packing) with gsm7_national (national language tables, as data).
May import: the standard library only.
"""

from . import gsm7, pdu

__all__ = ["gsm7", "pdu"]
