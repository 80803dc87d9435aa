"""The HTTP API (aiohttp): routes, authentication, validation, RFC 9457 problems, metrics and the OpenAPI document.
No AT and no SQL here.

Modules: app (build_app, middleware, the daemon's own endpoints), messages (/v1/messages, /v1/batches, /v1/inbox),
recipients (a `to` of several numbers), otp (/v1/otp), admin/ (GET /admin, the page, and the /v1/admin reads it polls), twilio/ (Twilio Verify v2 at Twilio's paths under /twilio,
for its official clients), validation (Problem and the field checks both share), refusals (Retry-After, storage
trouble: what every API's middleware says alike), limits (every bound of a request: validation checks them, openapi
states them), openapi (the document served at /openapi.json), auth (tokens -> apps and scopes), peer_auth (who is
on the admin socket), connections (connection cap, idle timeout), metrics (Prometheus).
May import: services, store, domain, codec, config, log.
"""
