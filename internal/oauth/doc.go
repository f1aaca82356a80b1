// Package oauth is tokenkeeper's client for OAuth2 token endpoints: the
// refresh_token grant, the authorization_code grant of the connect flow, the
// authorization URL, and RFC 7009 revocation. It turns every answer into a
// classified tokenkeeper.Outcome (DESIGN.md §2).
//
// Every call sends exactly one HTTP request: the client authentication style
// comes from Provider.AuthMethod and is never probed, a failed request is
// never retried with the other style, and redirects are classified instead of
// followed. Retrying is the refresher's job, after it has re-read storage.
//
// # Classification
//
// The first matching row decides.
//
//	answer                                               class      Code
//	---------------------------------------------------  ---------  ------------------------------
//	nothing is sent:
//	  no provider                                        config     provider_unknown
//	  client id or secret missing                        config     missing_client_credentials
//	  auth_method not basic/post                         config     invalid_auth_method
//	  endpoint URL not absolute http(s)                  config     invalid_token_url
//	  refresh method not GET/POST, body not form/json    config     invalid_refresh_method, invalid_refresh_body
//	  no refresh token (access token) to send            permanent  no_refresh_token
//	  Revoke: no RevokeURL / no token                    permanent  revocation_unsupported, no_token
//	sent, no complete answer:
//	network error, connection refused/reset, DNS, TLS,   transient  network
//	  connection closed mid-response
//	timeout (Options.Timeout or the caller's deadline)   transient  timeout
//	caller cancelled the context                         transient  canceled
//	body larger than Options.MaxBodyBytes                transient  response_too_large
//	answered:
//	Revoke: any 2xx                                      success    ""
//	3xx (never followed)                                 transient  redirect
//	408, 429, 5xx                                        transient  http_408, http_429, http_503, …
//	2xx or 4xx with "error" (any class by its code):
//	  invalid_grant saying revoked/expired/invalid/      revoked    the provider's code
//	    not found/unknown/bad/malformed
//	  invalid_grant with AADSTS50196 (Microsoft loop)    transient  the provider's code
//	  invalid_grant with any other or no description     permanent  the provider's code
//	  bad_refresh_token, invalid_refresh_token,          revoked    the provider's code
//	    token_revoked
//	  invalid_client, unauthorized_client,               config     the provider's code
//	    incorrect_client_credentials, invalid_client_id,
//	    bad_client_secret
//	  temporarily_unavailable, server_error, slow_down,  transient  the provider's code
//	    ratelimited, rate_limited
//	  Graph-style {"error":{"code":190,…}}               revoked    oauthexception_190
//	  any other code (invalid_request, invalid_scope,    permanent  the provider's code
//	    unsupported_grant_type, …)
//	2xx with "ok": false and RefreshQuirks.ErrorIn200    permanent  error_in_200
//	2xx with a non-empty access_token                    success    ""
//	2xx without access_token, HTML, garbage              transient  malformed_response
//	other 4xx (401/403/404 … without an error code)      permanent  http_401, http_403, …
//	any other status                                     transient  unexpected_status
//
// Error codes are matched case-insensitively. RetryAfter comes from the
// Retry-After header (delta-seconds or HTTP-date) or else a JSON retry_after
// field, clamped to [0, 24h], on any failed answer that carries one.
//
// Outcome.Message is the provider's error_description (or error.message, or
// message) with control characters removed, every token and client secret of
// the request replaced by [REDACTED], truncated to 200 runes; when a secret
// would still show, or the provider gave no description, it is a short text of
// ours. Outcome.Code is the provider's error code restricted to
// [A-Za-z0-9_.:-] and 64 bytes, or ours. Neither ever holds the raw body.
// Secrets shorter than 6 bytes cannot be redacted meaningfully and are not.
//
// # Expiry
//
// Token.ExpiresAt is the time the request was sent plus expires_in (a JSON
// number, a numeric string or a float; zero or negative counts as missing;
// more than 10 years is capped at 10 years); else the exp claim of an access
// token that is a JWT (decoded, not verified) when it lies in the future; else
// the time sent plus Provider.AccessTokenLifetime when positive; else zero.
package oauth
