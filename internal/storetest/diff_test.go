package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// mutate changes v (settable) to a different value of its type, and reports
// whether it knows how.
func mutate(v reflect.Value) bool {
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Millisecond)))
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "x")
	case v.CanInt():
		v.SetInt(v.Int() + 1)
	case v.CanUint():
		v.SetUint(v.Uint() + 1)
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.Kind() == reflect.Slice:
		v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
		return mutate(v.Index(v.Len() - 1))
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
			return true
		}
		v.Set(reflect.Zero(v.Type()))
	default:
		return false
	}
	return true
}

// TestDiffSeesEveryField proves that Diff compares every exported field of
// the stored types, so that a field added to the domain is covered by the
// suite's comparisons.
func TestDiffSeesEveryField(t *testing.T) {
	t.Parallel()
	now := BaseTime()
	c := fullConnection(now)
	values := map[string]any{
		"Connection":     c,
		"Event":          tokenkeeper.NewEvent(tokenkeeper.EventRefreshWarning, c, now),
		"RefreshAttempt": attempt(c.ID, now, tokenkeeper.ClassPermanent),
		"APIKey":         newAPIKey("k", now, tokenkeeper.ScopeAdmin),
		"User":           &tokenkeeper.User{ID: "u", SealedEmail: []byte{1}, UpdatedAt: now},
	}
	for name, orig := range values {
		typ := reflect.TypeOf(orig)
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		for i := range typ.NumField() {
			field := typ.Field(i)
			t.Run(name+"."+field.Name, func(t *testing.T) {
				base := reflect.New(typ)
				base.Elem().Set(reflect.Indirect(reflect.ValueOf(orig)))
				changed := reflect.New(typ)
				changed.Elem().Set(base.Elem())
				if !mutate(changed.Elem().Field(i)) {
					t.Fatalf("cannot mutate a field of kind %s", field.Type.Kind())
				}
				if d := Diff(base.Interface(), changed.Interface()); d == "" {
					t.Errorf("Diff does not see a change of %s", field.Name)
				}
			})
		}
	}
}

func TestDiffEquivalences(t *testing.T) {
	t.Parallel()
	now := BaseTime()
	withMonotonic := time.Now()
	tests := []struct {
		name      string
		want, got any
	}{
		{"time zones", now, now.In(time.FixedZone("x", 3600))},
		{"monotonic clock", withMonotonic, withMonotonic.Round(0)},
		{"nil and empty strings", &tokenkeeper.Connection{}, &tokenkeeper.Connection{Scopes: []string{}}},
		{"nil and empty bytes", &tokenkeeper.User{}, &tokenkeeper.User{SealedEmail: []byte{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if d := Diff(tt.want, tt.got); d != "" {
				t.Errorf("Diff = %q, want no difference", d)
			}
		})
	}
}

func TestNewConnection(t *testing.T) {
	t.Parallel()
	now := BaseTime().Add(1500 * time.Microsecond)
	a := NewConnection(now)
	b := NewConnection(now, withProvider("other"))
	if a.ID == b.ID || a.UserID == b.UserID || string(a.SealedAccessToken) == string(b.SealedAccessToken) {
		t.Error("two connections share an id, a user or sealed bytes")
	}
	if b.Provider != "other" || a.Status != tokenkeeper.StatusConnected || !a.HasRefreshToken() {
		t.Errorf("unexpected connection %+v", a)
	}
	if !a.CreatedAt.Equal(BaseTime().Add(time.Millisecond)) {
		t.Errorf("CreatedAt = %s, want now truncated to ms", fmtTime(a.CreatedAt))
	}
	if !tokenkeeper.ValidID(a.ID) || !tokenkeeper.ValidID(a.UserID) {
		t.Errorf("invalid ids %q, %q", a.ID, a.UserID)
	}
}
