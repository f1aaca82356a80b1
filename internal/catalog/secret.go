package catalog

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// ResolveSecret returns the secret that ref names:
//
//   - "env:NAME": the value of environment variable NAME, read with getenv;
//     an unset or empty variable is an error naming the variable;
//   - "file:/path": the contents of the file, read with readFile, without
//     trailing newlines; an empty file is an error naming the path;
//   - anything else: ref itself, unchanged.
//
// Errors name the variable or file, never a value. A nil getenv or readFile
// means os.Getenv or os.ReadFile.
func ResolveSecret(ref string, getenv func(string) string, readFile func(string) ([]byte, error)) (tokenkeeper.Secret, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	switch {
	case strings.HasPrefix(ref, "env:"):
		name := strings.TrimPrefix(ref, "env:")
		if name == "" || strings.ContainsAny(name, "= \t\r\n\x00") {
			return "", errors.New(`env reference: want "env:NAME" with a variable name`)
		}
		v := getenv(name)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is unset or empty", name)
		}
		return tokenkeeper.Secret(v), nil
	case strings.HasPrefix(ref, "file:"):
		path := strings.TrimPrefix(ref, "file:")
		if path == "" || strings.ContainsAny(path, "\r\n\x00") {
			return "", errors.New(`file reference: want "file:/path"`)
		}
		b, err := readFile(path)
		if err != nil {
			return "", fmt.Errorf("read secret file %s: %w", path, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", path)
		}
		return tokenkeeper.Secret(v), nil
	}
	return tokenkeeper.Secret(ref), nil
}
