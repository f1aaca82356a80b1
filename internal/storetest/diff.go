package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"
)

var timeType = reflect.TypeFor[time.Time]()

// Diff compares two values of the same type field by field and describes
// every difference, one per line; "" means equal. It is how the suite
// compares what it stored with what it read back:
//
//   - times are compared as instants (time.Time.Equal), so the location and
//     the monotonic reading do not matter;
//   - a nil slice equals an empty one;
//   - byte slices are compared byte for byte and reported by length only,
//     so sealed values are not printed;
//   - pointers are compared by what they point to.
//
// It walks structs by reflection, so a field added to a domain type is
// compared without changing the suite.
func Diff(want, got any) string {
	var b strings.Builder
	diffValue(&b, "", reflect.ValueOf(want), reflect.ValueOf(got))
	return b.String()
}

func diffValue(b *strings.Builder, path string, w, g reflect.Value) {
	if !w.IsValid() || !g.IsValid() {
		if w.IsValid() != g.IsValid() {
			fmt.Fprintf(b, "%s: want %v, got %v\n", name(path), w, g)
		}
		return
	}
	if w.Type() != g.Type() {
		fmt.Fprintf(b, "%s: want type %s, got type %s\n", name(path), w.Type(), g.Type())
		return
	}
	switch {
	case w.Type() == timeType:
		wt, gt := w.Interface().(time.Time), g.Interface().(time.Time)
		if !wt.Equal(gt) {
			fmt.Fprintf(b, "%s: want %s, got %s\n", name(path), fmtTime(wt), fmtTime(gt))
		}
	case w.Kind() == reflect.Pointer:
		if w.IsNil() || g.IsNil() {
			if w.IsNil() != g.IsNil() {
				fmt.Fprintf(b, "%s: want nil=%t, got nil=%t\n", name(path), w.IsNil(), g.IsNil())
			}
			return
		}
		diffValue(b, path, w.Elem(), g.Elem())
	case w.Kind() == reflect.Struct:
		for i := range w.NumField() {
			f := w.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			diffValue(b, join(path, f.Name), w.Field(i), g.Field(i))
		}
	case w.Kind() == reflect.Slice && w.Type().Elem().Kind() == reflect.Uint8:
		if !bytes.Equal(w.Bytes(), g.Bytes()) {
			fmt.Fprintf(b, "%s: bytes differ (want %d bytes, got %d)\n", name(path), w.Len(), g.Len())
		}
	case w.Kind() == reflect.Slice:
		if w.Len() != g.Len() {
			fmt.Fprintf(b, "%s: want %d elements %v, got %d %v\n", name(path), w.Len(), w, g.Len(), g)
			return
		}
		for i := range w.Len() {
			diffValue(b, fmt.Sprintf("%s[%d]", path, i), w.Index(i), g.Index(i))
		}
	default:
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			fmt.Fprintf(b, "%s: want %#v, got %#v\n", name(path), w.Interface(), g.Interface())
		}
	}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func name(path string) string {
	if path == "" {
		return "value"
	}
	return path
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero time"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
