package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// repeated returns an array32 of n copies of the msgpack object obj.
func repeated(n int, obj ...byte) []byte {
	b := []byte{0xdd, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return append(b, bytes.Repeat(obj, n)...)
}

// wrapV returns the map {"V": inner}, the encoding of struct{ V any }.
func wrapV(inner []byte) []byte { return append([]byte{0x81, 0xa1, 'V'}, inner...) }

type anyBox struct{ V any }

// TestDecode_Amplification: payloads whose decoded size would be many times
// their length are refused before decoding (ErrDecodeTooLarge, with
// ErrBadPayload); payloads that are mostly data, and small payloads of any
// shape, pass.
func TestDecode_Amplification(t *testing.T) {
	strs, _ := Marshal(map[string]any{"a": []string{"x", "yy", "zzz"}, "b": bytes.Repeat([]byte{1}, 1<<20)})
	ints := make([]int8, 1<<20)
	intsB, _ := Marshal(ints)
	shortMap := map[string]int{}
	for i := 0; i < 1<<14; i++ {
		shortMap[string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676))] = i % 100
	}
	shortMapB, _ := Marshal(shortMap)
	for _, c := range []struct {
		name    string
		payload []byte
		refused bool
	}{
		{"empty maps", wrapV(repeated(1<<20, 0x80)), true},
		{"empty arrays", wrapV(repeated(1<<20, 0x90)), true},
		{"maps of empty maps", wrapV(repeated(1<<18, 0x81, 0xa0, 0x80)), true},
		{"one-entry maps of nothing", wrapV(repeated(1<<18, 0x81, 0xa0, 0x00)), true},
		{"one-field structs", wrapV(repeated(1<<18, 0x81, 0xa1, 'I', 0x01)), false},
		{"a few empty maps", wrapV(repeated(1000, 0x80)), false},
		{"strings and binary", wrapV(strs), false},
		{"small ints", wrapV(intsB), false},
		{"map of short keys", wrapV(shortMapB), false},
		{"nil", wrapV([]byte{0xc0}), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var box anyBox
			err := Unmarshal(c.payload, &box)
			if c.refused {
				if !errors.Is(err, ErrDecodeTooLarge) || !errors.Is(err, ErrBadPayload) {
					t.Fatalf("Unmarshal = %v, want ErrDecodeTooLarge and ErrBadPayload", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
		})
	}
}

// TestDecode_AmplificationCap: a payload within the ratio is still refused
// over MaxDecodedSize.
func TestDecode_AmplificationCap(t *testing.T) {
	limit := uint64(1 << 20)
	if _, err := scanMsgpack(repeated(1<<17, 0x01), limit); !errors.Is(err, ErrDecodeTooLarge) {
		t.Fatalf("scan = %v, want ErrDecodeTooLarge", err)
	}
	if _, err := scanMsgpack(repeated(1<<15, 0x01), limit); err != nil {
		t.Fatalf("scan: %v", err)
	}
}

// TestDecode_EstimateBoundsAllocation: for shapes decoded into `any`, what
// decoding really allocates is within 4 times the estimate (small Go maps
// allocate a whole group of slots), so the bound on the estimate bounds
// memory.
func TestDecode_EstimateBoundsAllocation(t *testing.T) {
	for _, c := range []struct {
		name    string
		payload []byte
	}{
		{"empty maps", wrapV(repeated(1000, 0x80))},
		{"empty arrays", wrapV(repeated(1000, 0x90))},
		{"small ints", wrapV(repeated(1000, 0x05))},
		{"short strings", wrapV(repeated(1000, 0xa3, 'a', 'b', 'c'))},
		{"maps of one entry", wrapV(repeated(1000, 0x81, 0xa1, 'k', 0x01))},
		{"nested arrays", wrapV(repeated(1000, 0x91, 0x91, 0x01))},
	} {
		t.Run(c.name, func(t *testing.T) {
			est, err := scanMsgpack(c.payload, 1<<40)
			if err != nil {
				t.Fatal(err)
			}
			var box anyBox
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if err := Unmarshal(c.payload, &box); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			got := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: estimate %d, allocated %d", len(c.payload), est, got)
			if got > 4*est {
				t.Errorf("decoding allocated %d bytes, estimate %d", got, est)
			}
		})
	}
}

// amplifySeeds are the seed corpus of FuzzCheckPayload.
func amplifySeeds() map[string][]byte {
	return map[string][]byte{
		"empty-maps":     wrapV(repeated(5000, 0x80)),
		"empty-arrays":   wrapV(repeated(5000, 0x90)),
		"one-entry-maps": wrapV(repeated(3000, 0x81, 0xa0, 0x00)),
		"strings":        wrapV(repeated(100, 0xa3, 'a', 'b', 'c')),
		"bin":            {0xc5, 0x01, 0x00},
		"map16-liar":     {0xde, 0xff, 0xff, 0x80},
		"nested":         append(bytes.Repeat([]byte{0x91}, 200), 0xc0),
	}
}

// TestAmplifyCorpus checks that testdata/fuzz/FuzzCheckPayload holds the
// seeds of amplifySeeds; run with -update to rewrite it.
func TestAmplifyCorpus(t *testing.T) {
	checkCorpus(t, "FuzzCheckPayload", amplifySeeds())
}

// FuzzCheckPayload: the pre-scan never panics, its estimate never goes
// past the limit it accepts, covers at least the payload's bytes, and
// whatever it accepts decodes into `any` without panicking and within 4
// times the estimate (plus the decoder's fixed costs).
func FuzzCheckPayload(f *testing.F) {
	for _, seed := range amplifySeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		limit := min(MaxDecodeRatio*uint64(len(b))+decodeSlack, MaxDecodedSize)
		est, err := scanMsgpack(b, limit)
		if err != nil {
			return
		}
		if est > limit || est < uint64(len(b)) {
			t.Fatalf("accepted with estimate %d for %d bytes, limit %d", est, len(b), limit)
		}
		var v any
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = Unmarshal(b, &v)
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 4*est+64<<10 {
			t.Fatalf("decoding %d bytes allocated %d, estimate %d", len(b), got, est)
		}
	})
}
