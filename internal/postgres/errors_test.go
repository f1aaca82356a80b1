package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestMapError(t *testing.T) {
	t.Parallel()
	other := &pgconn.PgError{Code: "23503", Message: "foreign key violation", ConstraintName: "refresh_attempts_connection_id_fkey"}
	tests := []struct {
		name string
		err  error
		want error // matched with errors.Is
		code tokenkeeper.Code
	}{
		{"nil", nil, nil, ""},
		{"no rows", pgx.ErrNoRows, tokenkeeper.ErrNotFound, tokenkeeper.CodeAccountNotFound},
		{"wrapped no rows", fmt.Errorf("scan: %w", pgx.ErrNoRows), tokenkeeper.ErrNotFound, tokenkeeper.CodeAccountNotFound},
		{"connection key", uniqueViolation("connections_user_id_provider_account_id_key"), tokenkeeper.ErrDuplicate, tokenkeeper.CodeConflict},
		{"connection id", uniqueViolation("connections_pkey"), tokenkeeper.ErrDuplicate, tokenkeeper.CodeConflict},
		{"api key hash", uniqueViolation("api_keys_hash_key"), errAPIKeyExists, tokenkeeper.CodeConflict},
		{"api key id", uniqueViolation("api_keys_pkey"), errAPIKeyExists, tokenkeeper.CodeConflict},
		{"event id", uniqueViolation("events_id_key"), nil, tokenkeeper.CodeInternal},
		{"other server error", other, other, tokenkeeper.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mapError(tt.err)
			if tt.want != nil && !errors.Is(got, tt.want) {
				t.Errorf("mapError = %v, want an error matching %v", got, tt.want)
			}
			if tt.want == nil && tt.err != nil && got != tt.err {
				t.Errorf("mapError = %v, want the error unchanged", got)
			}
			if code := tokenkeeper.ErrorCode(got); code != tt.code {
				t.Errorf("ErrorCode = %q, want %q", code, tt.code)
			}
		})
	}
}

// uniqueViolation is the error PostgreSQL returns for a duplicate key; the
// detail holds the values, which mapError must not pass on.
func uniqueViolation(constraint string) error {
	return &pgconn.PgError{
		Code: codeUniqueViolation, ConstraintName: constraint,
		Message: `duplicate key value violates unique constraint "` + constraint + `"`,
		Detail:  `Key (hash)=(\x736563726574) already exists.`,
	}
}

// TestOpenErrorsHidePassword: a connection string that cannot be parsed or
// reached never shows up, password included, in the error.
func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	const password = "s3cret-pa55word"
	tests := []struct{ name, url string }{
		{"bad port", "postgres://tk:" + password + "@127.0.0.1:notaport/db"},
		{"bad keyword value", "host=127.0.0.1 password=" + password + " port=x"},
		{"unreachable", "postgres://tk:" + password + "@127.0.0.1:1/db?connect_timeout=1&sslmode=disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(context.Background(), tt.url, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
