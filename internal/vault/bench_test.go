package vault

import (
	"bytes"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
)

func benchSetup(b *testing.B) (*Ring, []byte, []byte) {
	r := setup(b, testKey("k1a2b3c4d", 1), testKey("k0", 2))
	token := bytes.Repeat([]byte("t"), 200)
	ad := tokenkeeper.AdditionalData("conn_01J8ZQ4X7V0000000000000000", tokenkeeper.FieldAccessToken)
	return r, token, ad
}

func BenchmarkSeal(b *testing.B) {
	r, token, ad := benchSetup(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(token)))
	for b.Loop() {
		if _, err := r.Seal(token, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	r, token, ad := benchSetup(b)
	c := mustSeal(b, r, token, ad)
	b.ReportAllocs()
	b.SetBytes(int64(len(token)))
	for b.Loop() {
		if _, err := r.Open(c, ad); err != nil {
			b.Fatal(err)
		}
	}
}
