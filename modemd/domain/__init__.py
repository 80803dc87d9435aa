"""Pure records and rules of the daemon (no I/O, no asyncio).

Modules: sms (outbound messages, their states and the one transition table), errors (the exceptions modemd raises,
and classify(): what a failed AT command means for retrying), policy (OTP rules and template, retry policy, pacing),
numbers (phone numbers in, E.164 out), delivery (what a delivery report's TP-ST means, how the reports
of a message's parts settle it), redact (what of a number or an id may be shown), otp_seal (OTP texts sealed
at rest with AES-GCM).
May import: codec (for the SMS length rules of a template).
"""
