package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/tokenkeeper/tokenkeeper"
)

// maxJSONDepth bounds the nesting of objects and arrays in a request body.
const maxJSONDepth = 32

// readBody reads r's body up to limit bytes. It answers INVALID_REQUEST when
// the body is larger, or when it has a Content-Type other than JSON.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, invalid("Content-Type must be application/json")
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, invalid("request body is larger than %d bytes", limit)
		}
		return nil, invalid("read request body: %v", err)
	}
	return data, nil
}

// decodeJSON decodes data, a request body, into dst, a pointer to a struct.
// It answers INVALID_REQUEST, with a message that names the problem, for
// invalid UTF-8, nesting deeper than 32 levels, malformed JSON, a value that
// is not an object, unknown fields, fields of the wrong type and data after
// the object. Messages never quote the body.
func decodeJSON(data []byte, dst any) error {
	if !utf8.Valid(data) {
		return invalid("request body is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return invalid("request body is empty; send a JSON object")
	}
	if depth := jsonDepth(trimmed); depth > maxJSONDepth {
		return invalid("request body nests deeper than %d levels", maxJSONDepth)
	}
	if trimmed[0] != '{' {
		return invalid("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return invalid("request body has data after the JSON object")
	}
	return nil
}

// decodeError turns an encoding/json error into an INVALID_REQUEST message.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid("request body is malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("request body is malformed JSON: it ends too soon")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid("request body must be a JSON object")
		}
		// Value is "string", "number 3.5", …: keep the kind, never the value.
		got, _, _ := strings.Cut(typ.Value, " ")
		return invalid("field %s must be %s, not %s", typ.Field, article(typ.Type.Kind().String()), got)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return invalid("request body has an unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return invalid("request body is not valid JSON")
	}
}

// article names a Go kind the way a JSON caller understands it.
func article(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return "of another type"
	}
}

// jsonDepth returns the deepest nesting of objects and arrays in data,
// ignoring brackets inside strings. It stops counting once the depth passes
// maxJSONDepth, so it is linear in len(data) and needs no stack.
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case inString && c == '"':
			inString = false
		case inString:
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > maxJSONDepth {
					return deepest
				}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// invalid returns an INVALID_REQUEST error.
func invalid(format string, args ...any) error {
	return &tokenkeeper.Error{Code: tokenkeeper.CodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}
