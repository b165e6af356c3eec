package wire_test

import (
	"bytes"
	"testing"

	"github.com/spindle-go/spindle/wire"
)

// FuzzRangeKV: RangeKV accepts what ParseKV accepts, with the same
// entries, and rejects what it rejects but for duplicate keys; it never
// panics.
func FuzzRangeKV(f *testing.F) {
	good, _ := wire.AppendKV(nil, map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a": ""})
	f.Add(good)
	f.Add(append(good, 3, 'a'))
	f.Add([]byte{0})
	f.Add([]byte{1, 'k', 0xff, 0xff})
	f.Add(append(append([]byte(nil), good...), good...)) // duplicates
	f.Fuzz(func(t *testing.T, b []byte) {
		var got [][2][]byte
		err := wire.RangeKV(b, func(k, v []byte) bool {
			got = append(got, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			return true
		})
		m, perr := wire.ParseKV(b)
		switch {
		case perr == nil && err != nil:
			t.Fatalf("ParseKV accepts %x, RangeKV: %v", b, err)
		case err == nil && perr != nil:
			seen := map[string]bool{}
			for _, e := range got {
				if seen[string(e[0])] {
					return // a duplicate key: ParseKV's rule only
				}
				seen[string(e[0])] = true
			}
			t.Fatalf("RangeKV accepts %x, ParseKV: %v", b, perr)
		case err == nil:
			if len(got) != len(m) {
				t.Fatalf("RangeKV gave %d entries, ParseKV %d", len(got), len(m))
			}
			for _, e := range got {
				if v, ok := m[string(e[0])]; !ok || v != string(e[1]) {
					t.Fatalf("entry %q=%q not in ParseKV's %v", e[0], e[1], m)
				}
			}
		}
		n := 0
		_ = wire.RangeKV(b, func(k, v []byte) bool { n++; return false })
		if n > 1 {
			t.Fatalf("RangeKV went on after f returned false")
		}
	})
}
