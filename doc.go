// Package tokenkeeper is the domain of tokenkeeper: connections to OAuth2
// providers, their statuses and failure classes, the refresh policy as pure
// functions of (state, now), the events that state changes produce, and the
// interfaces that the parts under internal/ implement.
//
// This package imports only the standard library. Concrete implementations
// live in internal/ (one package per dependency) and are wired together in
// cmd/tokenkeeper.
package tokenkeeper
