package oidctest_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/oidctest"
)

// refresh runs one refresh_token grant for clientID with x/oauth2 and the
// client's explicit auth style (or style, when it is not AuthStyleAutoDetect).
func refresh(t *testing.T, s *oidctest.Server, clientID, refreshToken string, style oauth2.AuthStyle) (*oauth2.Token, error) {
	t.Helper()
	conf := s.Config(clientID, "")
	if style != oauth2.AuthStyleAutoDetect {
		conf.Endpoint.AuthStyle = style
	}
	return conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// wantRetrieveError fails unless err is an x/oauth2 RetrieveError with status and code.
func wantRetrieveError(t *testing.T, err error, status int, code string) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want a RetrieveError %d %s", err, status, code)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got HTTP %d error %q, want HTTP %d %q", re.Response.StatusCode, re.ErrorCode, status, code)
	}
	return re
}

func TestGrantEveryClient(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{AccessTokenTTL: 120 * time.Second})
	t.Run("clients", func(t *testing.T) {
		for _, id := range oidctest.Clients() {
			t.Run(id, func(t *testing.T) {
				t.Parallel()
				tok := s.Grant(t, id, "")
				if tok.AccessToken == "" || tok.RefreshToken == "" {
					t.Fatal("grant returned an empty access or refresh token")
				}
				if got := tok.Extra("scope"); got != "read write" {
					t.Errorf("scope = %v, want read write", got)
				}
				if !s.Active(t, id, tok.AccessToken) || !s.Active(t, id, tok.RefreshToken) {
					t.Error("a freshly granted token is not active")
				}
			})
		}
	})
	if st := s.Stats(t); st.CodeExchanges != 4 || st.TokenRequests != 4 || st.RefreshRequests != 0 {
		t.Errorf("stats = %+v, want 4 code exchanges, 4 token requests, no refresh", st)
	}
}

func TestRotatingReuseDetection(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{})
	t.Run("clients", func(t *testing.T) {
		for _, id := range []string{oidctest.RotatingBasic, oidctest.RotatingPost} {
			t.Run(id, func(t *testing.T) {
				t.Parallel()
				old := s.Grant(t, id, "").RefreshToken
				tok, err := refresh(t, s, id, old, oauth2.AuthStyleAutoDetect)
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if tok.RefreshToken == "" || tok.RefreshToken == old {
					t.Fatal("refresh did not rotate the refresh token")
				}
				if s.Active(t, id, old) || !s.Active(t, id, tok.RefreshToken) {
					t.Fatal("after rotation want the old token inactive and the new one active")
				}
				_, err = refresh(t, s, id, old, oauth2.AuthStyleAutoDetect)
				wantRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")
				if s.Active(t, id, tok.RefreshToken) || s.Active(t, id, tok.AccessToken) {
					t.Error("replaying the old token left the grant alive")
				}
			})
		}
	})
	st := s.Stats(t)
	if st.RefreshRequests != 4 || st.RefreshSuccesses != 2 || st.InvalidGrant != 2 || st.ReuseDetections != 2 {
		t.Errorf("stats = %+v, want 4 refresh requests, 2 successes, 2 invalid_grant, 2 reuse detections", st)
	}
	for _, id := range []string{oidctest.RotatingBasic, oidctest.RotatingPost} {
		if st.RefreshRequestsByClient[id] != 2 || st.RefreshSuccessesByClient[id] != 1 {
			t.Errorf("%s: %d refresh requests and %d successes, want 2 and 1",
				id, st.RefreshRequestsByClient[id], st.RefreshSuccessesByClient[id])
		}
	}
}

func TestStaticKeepsRefreshToken(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{})
	t.Run("clients", func(t *testing.T) {
		for _, id := range []string{oidctest.StaticBasic, oidctest.StaticPost} {
			t.Run(id, func(t *testing.T) {
				t.Parallel()
				grant := s.Grant(t, id, "")
				for range 2 {
					tok, err := refresh(t, s, id, grant.RefreshToken, oauth2.AuthStyleAutoDetect)
					if err != nil {
						t.Fatalf("refresh: %v", err)
					}
					if tok.RefreshToken != grant.RefreshToken || tok.AccessToken == grant.AccessToken {
						t.Fatal("want the same refresh token and a new access token")
					}
				}
				if !s.Active(t, id, grant.RefreshToken) {
					t.Error("refresh token inactive after refreshes")
				}
			})
		}
	})
	if st := s.Stats(t); st.RefreshSuccesses != 4 || st.ReuseDetections != 0 || st.InvalidGrant != 0 {
		t.Errorf("stats = %+v, want 4 refreshes, no reuse, no invalid_grant", st)
	}
}

func TestRevokeEndsGrant(t *testing.T) {
	t.Parallel()
	s := oidctest.Start(t, oidctest.Options{})
	for _, id := range oidctest.Clients() {
		t.Run(id, func(t *testing.T) {
			tok := s.Grant(t, id, "")
			s.Revoke(t, id, tok.RefreshToken)
			if s.Active(t, id, tok.RefreshToken) || s.Active(t, id, tok.AccessToken) {
				t.Fatal("revoked grant still active")
			}
			_, err := refresh(t, s, id, tok.RefreshToken, oauth2.AuthStyleAutoDetect)
			wantRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")
		})
	}
	if st := s.Stats(t); st.Revocations != 4 || st.InvalidGrant != 4 || st.ReuseDetections != 0 {
		t.Errorf("stats = %+v, want 4 revocations, 4 invalid_grant, no reuse", st)
	}
}
