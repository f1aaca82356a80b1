package notify

import (
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// FuzzVerify: a webhook signature header from outside never panics the
// verifier, and a header that verifies is bound to its body, its secret and
// its time.
func FuzzVerify(f *testing.F) {
	secret := tokenkeeper.Secret("whsec-fuzz")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"connection.needs_reauth"}`)
	good := Sign(secret, now, body)
	f.Add(good, body)
	f.Add("t=1800000000,v1=00", body)
	f.Add("t=,v1=", []byte{})
	f.Add("v1="+good[len("t=1800000000,v1="):]+",t=1800000000", body)
	f.Add("t=1800000000,v1=zz,v1="+good[len("t=1800000000,v1="):], body)
	f.Add("t=99999999999999999999,v1=ab", body)
	f.Add(",,,=,t", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		if err := Verify(secret, header, b, now, 5*time.Minute); err != nil {
			return
		}
		// Accepted: the signature binds the body, the secret and the time.
		if Verify(secret, header, append(append([]byte{}, b...), 'x'), now, 5*time.Minute) == nil {
			t.Fatalf("%q verifies a body it was not made for", header)
		}
		if Verify("another-secret", header, b, now, 5*time.Minute) == nil {
			t.Fatalf("%q verifies under another secret", header)
		}
		if Verify(secret, header, b, now.Add(time.Hour), 5*time.Minute) == nil {
			t.Fatalf("%q verifies an hour later", header)
		}
	})
}
